"""python manage.py audit_lexicon EVAL.jsonl [EVAL.jsonl ...] -- lexicon entries that fire only on evaluation rows.

Lists each entry of the Korean and English lexicons that the analyser finds in the given evaluation files and
in none of the reference texts (the shipped case corpora, the KCS table's names, the HS 2022 descriptions):
candidates for fitting, to be reviewed by the rule in docs/classifier.md ("A general lexicon").
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from hscode.analysis.evaluation import read_jsonl
from hscode.analysis.lexicon import load_lexicon
from hscode.analysis.lexicon_audit import evaluation_only_entries, reference_texts
from hscode.services import SHIPPED_CASE_FILES


class Command(BaseCommand):
    help = "List lexicon entries that fire on the given evaluation files and on no shipped or nomenclature text."

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", help="evaluation JSONL files ({\"text\", \"hs6\"} per line)")

    def handle(self, *args, **options):
        folder = settings.BASE_DIR / "data" / "kcs"
        try:
            evaluation = [str(row["text"]) for path in options["paths"] for row in read_jsonl(path)]
        except (OSError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        reference = reference_texts([str(folder / name) for name, _source in SHIPPED_CASE_FILES],
                                    str(folder / "hsk_2025_kcs.csv"))
        found = evaluation_only_entries(evaluation, reference)
        for entry in found:
            hints = "|".join(entry.hints) or "-"
            rows = ", ".join(str(n) for n in entry.rows[:8]) + (" …" if len(entry.rows) > 8 else "")
            self.stdout.write(f"{entry.lexicon}\t{entry.term}\t{entry.kind}\t{hints}\trows {rows}")
        for name in ("ko", "en"):
            count = sum(1 for e in found if e.lexicon == name)
            total = len(load_lexicon(name))
            self.stdout.write(f"{name}: {count} of {total} entries ({count / total:.1%}) fire only on the "
                              "evaluation rows")

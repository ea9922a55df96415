"""python manage.py import_classification_cases FILE.jsonl -- load labelled cases {"text", "hs6", "lang"?}."""

from django.core.management.base import BaseCommand, CommandError

from hscode.models import ClassificationCase
from hscode.services import classification_cases_import


class Command(BaseCommand):
    help = (
        "Import labelled classification cases from JSONL (one {\"text\", \"hs6\"} per line, optionally "
        "\"lang\", \"hsk10\", \"reference_id\", \"decision_date\"); duplicates are skipped."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="JSONL file")
        parser.add_argument("--source", default="import", choices=ClassificationCase.Source.values)

    def handle(self, *args, **options):
        try:
            fh = open(options["path"], encoding="utf-8")
        except OSError as exc:
            raise CommandError(str(exc)) from exc
        with fh:
            result = classification_cases_import(fh, options["source"])
        for problem in result.invalid:
            self.stderr.write(f"{problem}; skipped")
        self.stdout.write(
            f"imported {result.imported} cases; {result.present} already present; "
            f"{len(result.invalid)} invalid lines skipped"
        )

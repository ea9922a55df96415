"""python manage.py import_classification_cases FILE.jsonl -- load labelled cases {"text", "hs6", "lang"?}."""

import json

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from hscode.analysis.nomenclature import get_nomenclature
from hscode.analysis.text import clean, detect_language
from hscode.models import ClassificationCase, case_text_hash


class Command(BaseCommand):
    help = "Import labelled classification cases from JSONL (one {\"text\", \"hs6\"} per line); duplicates are skipped."

    def add_arguments(self, parser):
        parser.add_argument("path", help="JSONL file")
        parser.add_argument("--source", default="import", choices=["import", "review"])

    def handle(self, *args, **options):
        nomenclature = get_nomenclature()
        rows: dict[tuple[str, str], ClassificationCase] = {}
        invalid = 0
        try:
            fh = open(options["path"], encoding="utf-8")
        except OSError as exc:
            raise CommandError(str(exc)) from exc
        with fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                    text = clean(str(row["text"])).strip()
                    hs6 = "".join(ch for ch in str(row["hs6"]) if ch.isdigit())
                except (json.JSONDecodeError, KeyError, TypeError):
                    invalid += 1
                    self.stderr.write(f"line {number}: expected {{\"text\", \"hs6\"}}; skipped")
                    continue
                if not text or len(hs6) < 6 or hs6[:6] not in nomenclature:
                    invalid += 1
                    self.stderr.write(f"line {number}: {hs6!r} is no HS 2022 subheading; skipped")
                    continue
                hs6 = hs6[:6]
                lang = row.get("lang") if row.get("lang") in ("ko", "en") else detect_language(text)
                key = (case_text_hash(text), hs6)
                rows.setdefault(
                    key,
                    ClassificationCase(text=text, text_hash=key[0], hs6=hs6, lang=lang, source=options["source"]),
                )
        existing = set()
        hashes = [k[0] for k in rows]
        for start in range(0, len(hashes), 500):
            chunk = hashes[start : start + 500]
            existing.update(ClassificationCase.objects.filter(text_hash__in=chunk).values_list("text_hash", "hs6"))
        new = [case for key, case in rows.items() if key not in existing]
        with transaction.atomic():
            ClassificationCase.objects.bulk_create(new, batch_size=500, ignore_conflicts=True)
        self.stdout.write(
            f"imported {len(new)} cases; {len(rows) - len(new)} already present; {invalid} invalid lines skipped"
        )

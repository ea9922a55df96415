"""python manage.py export_reviews FILE.jsonl -- reviewed messages as {"text", "hs6", "lang"} lines."""

from __future__ import annotations

import json
import sys

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date

from hscode.analysis.text import clean, detect_language
from hscode.models import AnalysisReview
from hscode.reprocessing import latest_reviews


class Command(BaseCommand):
    help = (
        "Write the staff-reviewed messages as JSONL {\"text\", \"hs6\", \"lang\"} (the newest review of each "
        "message; its label is the corrected code, or the detected one when it was correct), the format "
        "evaluate_classifier and import_classification_cases read. FILE '-' writes to stdout."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="output file (JSONL), or - for stdout")
        parser.add_argument("--verdict", choices=AnalysisReview.Verdict.values, help="only this verdict")
        parser.add_argument("--since", help="reviews made on or after this date (YYYY-MM-DD)")

    def handle(self, *args, **options):
        reviews = latest_reviews()
        if options["verdict"]:
            reviews = reviews.filter(verdict=options["verdict"])
        if options["since"]:
            day = parse_date(options["since"])
            if day is None:
                raise CommandError(f"--since: {options['since']!r} is no date (YYYY-MM-DD)")
            reviews = reviews.filter(created_at__date__gte=day)
        rows: dict[str, dict] = {}
        for review in reviews.order_by("created_at", "id"):
            text = clean(review.message.content).strip()
            if not text:
                continue
            analysis = review.message.analysis_record
            language = analysis.language if analysis else None
            # The same question reviewed on several messages: the newest label wins.
            rows[text] = {"text": text, "hs6": review.label_hs6,
                          "lang": language if language in ("ko", "en") else detect_language(text)}
        lines = [json.dumps(row, ensure_ascii=False) for row in rows.values()]
        if options["path"] == "-":
            for line in lines:
                sys.stdout.write(line + "\n")
            return
        try:
            with open(options["path"], "w", encoding="utf-8") as fh:
                for line in lines:
                    fh.write(line + "\n")
        except OSError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"wrote {len(lines)} reviewed message(s) to {options['path']}")

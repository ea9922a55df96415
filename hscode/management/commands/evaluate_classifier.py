"""python manage.py evaluate_classifier PATH.jsonl [--json] [--cases FILE]"""

from django.core.management.base import BaseCommand, CommandError

from hscode.analysis.evaluation import case_index_from_rows, evaluate, format_report, json_line, read_jsonl


class Command(BaseCommand):
    help = (
        "Evaluate the HS classifier on a JSONL file of {text, hs6, lang?}: top-1/top-5 at 6 digits, top-1 at "
        "4 and 2 digits, calibration per confidence band and latency, per language."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="JSONL file, one {\"text\", \"hs6\", \"lang\"?} object per line")
        parser.add_argument("--json", action="store_true", help="end with one JSON object holding the metrics")
        parser.add_argument("--cases", help="JSONL file of labelled cases {\"text\", \"hs6\"} to load for this run")

    def handle(self, *args, **options):
        try:
            rows = read_jsonl(options["path"])
            cases = case_index_from_rows(read_jsonl(options["cases"])) if options.get("cases") else None
        except (OSError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        if not rows:
            raise CommandError(f"{options['path']}: no rows")
        result = evaluate(rows, cases)
        self.stdout.write(format_report(result))
        if cases is not None:
            self.stdout.write(f"cases loaded: {len(cases)}")
        if options["json"]:
            self.stdout.write(json_line(result))

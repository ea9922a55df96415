"""python manage.py evaluate_classifier PATH.jsonl [--json] [--cases FILE | --no-cases] [--kfold K]

By default the rows are scored with the loaded case index (what the chat uses). A file whose rows are in the
index is refused: scoring a decision the vote has stored measures memory, not classification.

With --kfold, fold i is scored with a case index and first-stage calibration coefficients both fitted without its
rows (the coefficients on the file's other folds, scored by retrieval alone first); the second-stage maps are the
shipped ones (fitted by fit_calibration on out-of-fold predictions; its cross-fitted reliability table is the
leak-free calibration figure).
"""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from hscode.analysis.calibration import fold_first_stages_fitted
from hscode.analysis.evaluation import (
    case_index_from_rows,
    evaluate,
    evaluate_kfold,
    first_stage_kfold,
    fold_first_stages,
    format_report,
    json_line,
    leaked_rows,
    read_jsonl,
)
from hscode.models import ClassificationCase
from hscode.selectors import case_index_get


class Command(BaseCommand):
    help = (
        "Evaluate the HS classifier on a JSONL file of {text, hs6, lang?}: top-1/top-5 at 6 digits, top-1 at "
        "4 and 2 digits, calibration per confidence band and latency, per language and per source of evidence. "
        "Uses the loaded case index unless --no-cases or --cases FILE; refuses rows that are in the index."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="JSONL file, one {\"text\", \"hs6\", \"lang\"?} object per line")
        parser.add_argument("--json", action="store_true", help="end with one JSON object holding the metrics")
        which = parser.add_mutually_exclusive_group()
        which.add_argument("--cases", help="JSONL file of labelled cases to use instead of the loaded index")
        which.add_argument("--no-cases", action="store_true", help="retrieval alone, no case vote")
        parser.add_argument(
            "--kfold", type=int, metavar="K",
            help="PATH is a case file: score each of K folds with an index of the other folds (plus the loaded "
            "cases that are not in PATH, unless --no-cases)",
        )
        parser.add_argument("--case-source", default=ClassificationCase.Source.IMPORT,
                            choices=ClassificationCase.Source.values, help="source given to PATH's rows in --kfold")
        parser.add_argument("--limit-per-fold", type=int, metavar="N", help="--kfold: score at most N rows per fold")
        parser.add_argument("--fold", type=int, metavar="I",
                            help="--kfold: score fold I only (folds can run in parallel; merge with --records)")
        parser.add_argument("--records", metavar="PATH", help="also write one JSON line per scored row to PATH")

    def handle(self, *args, **options):
        try:
            rows = read_jsonl(options["path"])
            file_cases = case_index_from_rows(read_jsonl(options["cases"])) if options.get("cases") else None
        except (OSError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        if not rows:
            raise CommandError(f"{options['path']}: no rows")

        if options["fold"] is not None and not (options["kfold"] and 1 <= options["fold"] <= options["kfold"]):
            raise CommandError("--fold I needs --kfold K and 1 <= I <= K")
        if options["kfold"]:
            if options.get("cases"):
                raise CommandError("--kfold builds its own index; use --no-cases or nothing")
            base = [] if options["no_cases"] else self._loaded_cases_except(rows)
            try:
                by_fold = self._first_stage_by_fold(rows, options)
                result = evaluate_kfold(
                    rows, options["kfold"], source=options["case_source"], base_cases=base,
                    limit_per_fold=options["limit_per_fold"], first_stage_by_fold=by_fold, only_fold=options["fold"],
                    progress=lambda i, k, n, m: self.stderr.write(f"fold {i}/{k}: index {n} cases, scored {m}"),
                )
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
            self._write_records(result["records"], options)
            self.stdout.write(format_report(result))
            self.stdout.write(f"k-fold: {options['kfold']} folds; index per fold = other folds + {len(base)} "
                              "loaded cases not in the file; first-stage coefficients per fold fitted on the other "
                              "folds")
            if options["json"]:
                self.stdout.write(json_line(result))
            return

        if options["no_cases"]:
            cases = None
        elif file_cases is not None:
            cases = file_cases
        else:
            cases = case_index_get()
        leaked = leaked_rows(rows, cases)
        if leaked:
            shown = ", ".join(str(n) for n in leaked[:10]) + (" …" if len(leaked) > 10 else "")
            raise CommandError(
                f"{len(leaked)} of {len(rows)} rows are in the case index (lines {shown}): scoring them would "
                "measure memory, not classification. Use --no-cases, another --cases file, or --kfold."
            )
        result = evaluate(rows, cases)
        self._write_records(result.get("records", []), options)
        self.stdout.write(format_report(result))
        self.stdout.write(f"cases loaded: {len(cases) if cases is not None else 0}")
        if options["json"]:
            self.stdout.write(json_line(result))

    def _write_records(self, records: list[dict], options: dict) -> None:
        if options["records"]:
            with open(options["records"], "w", encoding="utf-8") as fh:
                for record in records:
                    fh.write(json.dumps(record, ensure_ascii=False) + "\n")

    def _first_stage_by_fold(self, rows: list[dict], options: dict) -> dict:
        """Each fold's first-stage coefficients, fitted without its rows: fit_calibration's when it fitted them on
        this very split of this shipped file, else fitted here on the other folds (scored by retrieval first)."""
        k = options["kfold"]
        if options["limit_per_fold"] is None:
            stored = fold_first_stages_fitted(Path(options["path"]).name, len(rows), k, grouped=False)
            if stored is not None:
                self.stderr.write("first stage: per-fold coefficients of fit_calibration (same split)")
                return stored
        stage1 = first_stage_kfold(
            rows, k, source=options["case_source"], limit_per_fold=options["limit_per_fold"],
            progress=lambda i, k, m: self.stderr.write(f"first stage, fold {i}/{k}: {m} rows by retrieval"),
        )
        by_fold = fold_first_stages(stage1, k)
        shipped = [str(i) for i, coefficients in by_fold.items() if coefficients is None]
        if shipped:
            self.stderr.write(f"folds {', '.join(shipped)}: too few rows to fit the first stage on the other "
                              "folds; scored with the shipped coefficients")
        return by_fold

    def _loaded_cases_except(self, rows: list[dict]) -> list:
        index = case_index_get()
        if index is None:
            return []
        held = case_index_from_rows(rows)
        return [case for case in index.cases if not held.contains(case.text)]

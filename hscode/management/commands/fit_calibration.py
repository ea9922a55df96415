"""python manage.py fit_calibration [--limit-per-fold N] -- fit the confidence maps on out-of-fold predictions.

Both shipped case corpora are scored by k-fold (each fold with an index of the other folds plus the other
corpus), with the maps switched off. Per language, source of evidence and kind of text an isotonic map from raw
confidence to observed accuracy is fitted on them and written to hscode/data/calibration.json, with the
cross-fitted reliability table (each half of the folds scored by a map fitted on the other half). A corpus measures
only the kinds of text it holds (calibration.MEASURED_KINDS: the trade names measure declaration records, the
rulings free text); a kind no corpus measures gets no map and is capped below the claim threshold. The dev files
are not used.
"""

import datetime as dt
import json

from django.conf import settings
from django.core.management.base import BaseCommand

from hscode.analysis.calibration import CALIBRATION_FILE, calibration_set
from hscode.analysis.evaluation import (
    case_from_row,
    cross_fitted_reliability,
    evaluate_kfold,
    fitted_maps,
    near_duplicate_groups,
    read_jsonl,
)
from hscode.services import SHIPPED_CASE_FILES


class Command(BaseCommand):
    help = "Fit the classifier's calibration maps by k-fold over the shipped case corpora (not the dev files)."

    def add_arguments(self, parser):
        parser.add_argument("--folds", type=int, default=5)
        parser.add_argument("--limit-per-fold", type=int, metavar="N", help="score at most N rows per fold")
        parser.add_argument("--output", default=str(CALIBRATION_FILE))

    def handle(self, *args, **options):
        folder = settings.BASE_DIR / "data" / "kcs"
        corpora = {name: (read_jsonl(str(folder / name)), source) for name, source in SHIPPED_CASE_FILES}
        records: list[dict] = []
        calibration_set(False)
        try:
            for name, (rows, source) in corpora.items():
                base = [case_from_row(r, other_source) for other, (other_rows, other_source) in corpora.items()
                        if other != name for r in other_rows]
                # near duplicates stay in one fold (only the small rulings corpus is grouped: the trade names
                # were de-duplicated when shipped), as the dev files were kept apart from the corpora
                groups = near_duplicate_groups(rows) if len(rows) <= 5000 else None
                result = evaluate_kfold(
                    rows, options["folds"], source=source, base_cases=base, limit_per_fold=options["limit_per_fold"],
                    groups=groups,
                    progress=lambda i, k, n, m, name=name: self.stderr.write(f"{name} fold {i}/{k}: scored {m}"),
                )
                records += result["records"]
        finally:
            calibration_set(True)
        reliability = cross_fitted_reliability(records)
        data = {
            "fitted": dt.date.today().isoformat(),
            "method": f"{options['folds']}-fold over the shipped KCS case corpora; isotonic per (language, source, "
            "kind of text), each corpus only for the kinds it measures; reliability cross-fitted (odd/even folds)",
            "rows": len(records),
            "maps": fitted_maps(records),
            "reliability": reliability,
        }
        with open(options["output"], "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False, indent=1)
            fh.write("\n")
        self.stdout.write(f"fitted on {len(records)} out-of-fold predictions; wrote {options['output']}")
        for row in reliability:
            if row["n"]:
                self.stdout.write(f"{row['language']} {row['source']:<8} {row['kind']:<5} {row['band']}  "
                                  f"n={row['n']:>5}  mean conf={row['mean_confidence']:.2f}  "
                                  f"accuracy={row['accuracy']:.1%}")

"""python manage.py import_trade_statistics FILE -- load a UN Comtrade or 관세청 trade-statistics CSV.

Every line is validated before anything is written; a file with a bad line loads nothing and the
error names each bad line. Re-importing updates changed rows in place (TradeFlow unique constraint)
and leaves identical rows untouched. Layouts and units: docs/detail-pages.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from trade.importing import COMTRADE, KCS, ImportFileError, count_lines, load_records, parse_file

LAYOUT_NAMES = {COMTRADE: "UN Comtrade", KCS: "관세청 (Korea Customs Service)"}
MAX_ERRORS_SHOWN = 50


class Command(BaseCommand):
    help = (
        "Import trade statistics from a UN Comtrade bulk/API CSV or a 관세청 수출입무역통계 CSV "
        "(layout detected from the header; UTF-8, UTF-8 with BOM or CP949). All lines are validated "
        "first; a file with any bad line loads nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="CSV file (.csv, .txt, or .gz of either)")
        parser.add_argument("--encoding", help="force an encoding instead of detecting UTF-8 / CP949")
        parser.add_argument("--layout", choices=[COMTRADE, KCS], help="fail unless the header is this layout")
        parser.add_argument("--dry-run", action="store_true", help="validate only; write nothing")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, **options):
        path = Path(options["path"])
        show_progress = not options["no_progress"] and options["verbosity"] > 0
        try:
            total = count_lines(path) if path.is_file() else None
            with tqdm(
                total=max((total or 1) - 1, 0), unit=" rows", desc="validate", file=sys.stderr,
                disable=not show_progress, leave=False,
            ) as bar:
                result = parse_file(path, encoding=options["encoding"], layout=options["layout"], progress=bar.update)
        except ImportFileError as exc:
            raise CommandError(f"{exc}; nothing was loaded") from None

        if result.errors:
            shown = "\n".join(f"  {error}" for error in result.errors[:MAX_ERRORS_SHOWN])
            more = len(result.errors) - MAX_ERRORS_SHOWN
            lines = ", ".join(str(n) for n in sorted({e.line for e in result.errors})[:MAX_ERRORS_SHOWN])
            raise CommandError(
                f"{path.name}: {len(result.errors)} bad line(s) ({lines}); nothing was loaded.\n{shown}"
                + (f"\n  ... and {more} more" if more > 0 else "")
            )

        self.stdout.write(
            f"{path.name}: {LAYOUT_NAMES[result.layout]} layout, {result.encoding}; "
            f"{result.rows_read} rows read, {len(result.records)} figures valid"
        )
        for reason, count in sorted(result.skipped.items()):
            self.stdout.write(f"  skipped {count} row(s): {reason}")
        if result.unknown_codes:
            codes = ", ".join(sorted(result.unknown_codes)[:10])
            self.stdout.write(f"  codes not in HS 2022 (not loaded): {codes}")
        if options["dry_run"]:
            self.stdout.write("dry run: nothing written")
            return

        with tqdm(
            total=len(result.records), unit=" rows", desc="load", file=sys.stderr,
            disable=not show_progress, leave=False,
        ) as bar:
            loaded = load_records(result.records, source_file=path.name, progress=bar.update)
        self.stdout.write(
            self.style.SUCCESS(
                f"loaded: {loaded.created} new, {loaded.updated} updated, {loaded.unchanged} unchanged"
            )
        )

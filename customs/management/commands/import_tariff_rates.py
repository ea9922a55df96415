"""python manage.py import_tariff_rates FILE -- load the 관세청 관세율표 (data.go.kr 15051179), xlsx or csv.

The whole file is checked first; a file with any bad line loads nothing and the error names every bad line.
Its rows replace every stored rate whose validity overlaps one of the periods in the file.
"""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from customs.services import tariff_rates_import
from kcs import KcsFileError

UNKNOWN_SHOWN = 10


class Command(BaseCommand):
    help = "Load tariff rates per HSK10 and rate type from the 관세청 품목번호별 관세율표 (xlsx or csv)."

    def add_arguments(self, parser):
        parser.add_argument("path", help="관세율표 file (.xlsx, or .csv UTF-8/CP949)")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, **options):
        show = not options["no_progress"] and options["verbosity"] > 0
        with tqdm(unit=" rates", desc="load rates", file=sys.stderr, disable=not show, leave=False) as bar:
            try:
                result = tariff_rates_import(options["path"], progress=bar.update)
            except KcsFileError as exc:
                raise CommandError(str(exc)) from None
        start, end = result.covers
        self.stdout.write(
            self.style.SUCCESS(
                f"{result.source_file}: loaded {result.rates} rates for {result.codes} codes, {start} to {end} "
                f"(replaced {result.replaced} stored rates of that period)"
            )
        )
        if result.unknown_codes:
            shown = ", ".join(result.unknown_codes[:UNKNOWN_SHOWN])
            self.stdout.write(f"  {len(result.unknown_codes)} code(s) not in the current HSK edition: {shown}")

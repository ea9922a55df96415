"""python manage.py import_hsk FILE -- load a 관세청_HS부호 table (csv, or the yearly xlsx from data.go.kr).

The whole file is checked first; a file with any bad line loads nothing and the error names every bad line.
The file is loaded as its edition (the year of its 적용종료일자); the newest edition loaded is the current one.
"""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from customs.services import hsk_import
from kcs import KcsFileError


class Command(BaseCommand):
    help = "Load the 관세청 HS code table (HSK 10-digit lines, Korean/English names, units) from a csv or xlsx file."

    def add_arguments(self, parser):
        parser.add_argument("path", help="관세청_HS부호 file (.csv UTF-8/CP949, or .xlsx)")
        parser.add_argument("--force", action="store_true", help="reload even if this file is already loaded")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, **options):
        show = not options["no_progress"] and options["verbosity"] > 0
        with tqdm(unit=" lines", desc="load HSK", file=sys.stderr, disable=not show, leave=False) as bar:
            try:
                result = hsk_import(options["path"], progress=bar.update, force=options["force"])
            except KcsFileError as exc:
                raise CommandError(str(exc)) from None
        if result.skipped:
            self.stdout.write(f"{result}; nothing done (--force reloads it)")
            return
        self.stdout.write(self.style.SUCCESS(str(result)))

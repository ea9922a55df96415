"""python manage.py load_shipped_data -- load the data the product ships, on first start (idempotent).

Run by `make run` (devtools/stack.py) and the compose `migrate` service right after migrate, and by the test
session setup. Each step skips a dataset already loaded at that edition and checksum. Keep this a list of
service calls, one per dataset.
"""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from customs.services import shipped_hsk_load
from hscode.services import classification_cases_shipped_load
from kcs import KcsFileError


class Command(BaseCommand):
    help = "Load the shipped datasets (관세청 HSK table, KCS case corpora) unless already loaded."

    def add_arguments(self, parser):
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, **options):
        show = not options["no_progress"] and options["verbosity"] > 0
        try:
            with tqdm(unit=" lines", desc="HSK table", file=sys.stderr, disable=not show, leave=False) as bar:
                hsk = shipped_hsk_load(progress=bar.update)
        except KcsFileError as exc:
            raise CommandError(str(exc)) from None
        state = "already loaded" if hsk.skipped else "loaded"
        self.stdout.write(f"HSK {hsk.edition}: {state} ({hsk.lines} lines)")
        for name, result in classification_cases_shipped_load().items():
            self.stdout.write(f"cases {name}: {result.imported} loaded, {result.present} already present, "
                              f"{len(result.invalid)} invalid")

"""python manage.py load_shipped_data -- load the data the product ships, on first start (idempotent).

Run by `make run` (devtools/stack.py) and the compose `migrate` service right after migrate, and by the test
session setup. Each step is one service call that skips a dataset already loaded at that edition and checksum,
and returns a result whose str() says what it did. Add a dataset by adding one line to STEPS.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from customs.services import shipped_hsk_load
from kcs import KcsFileError

# (label, service taking a `progress` callback)
STEPS: list[tuple[str, Callable[..., object]]] = [
    ("관세청 HSK table", shipped_hsk_load),
]


class Command(BaseCommand):
    help = "Load the shipped datasets (관세청 HSK table, …) unless already loaded."

    def add_arguments(self, parser):
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, **options):
        show = not options["no_progress"] and options["verbosity"] > 0
        for label, load in STEPS:
            try:
                with tqdm(unit=" rows", desc=label, file=sys.stderr, disable=not show, leave=False) as bar:
                    result = load(progress=bar.update)
            except KcsFileError as exc:
                raise CommandError(f"{label}: {exc}") from None
            self.stdout.write(f"{label}: {result}")

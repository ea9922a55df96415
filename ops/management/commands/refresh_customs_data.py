"""python manage.py refresh_customs_data -- refresh what is cached from the live KCS services.

Requirements (세관장확인대상) older than KCS_REQUIREMENTS_MAX_AGE_DAYS (all with --all) are fetched again; the trade
statistics of every HS6 fetched before get their missing months; a failure keeps the previous answer and is
counted by error code. A service without a key is skipped and said so.
"""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand
from tqdm import tqdm

from customs.live_services import requirements_service
from customs.services import requirements_refresh_stored, requirements_stale_count
from trade.live import nitemtrade_connected, nitemtrade_refresh_all
from trade.models import NitemtradeFetch


class Command(BaseCommand):
    help = "Refresh the cached answers of the live Korea Customs services (requirements, trade statistics)."

    def add_arguments(self, parser):
        parser.add_argument("--all", action="store_true", help="refresh every stored requirement, not only old ones")
        parser.add_argument("--only", choices=["requirements", "statistics"], help="refresh one kind only")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, **options):
        show = not options["no_progress"] and options["verbosity"] > 0
        only = options["only"]
        if only in (None, "requirements"):
            if requirements_service() is None:
                self.stdout.write("requirements: skipped (KCS_CCCT_KEY and KCS_API029_KEY are unset)")
            else:
                total = requirements_stale_count(everything=options["all"])
                with tqdm(total=total, unit=" lookups", desc="requirements", file=sys.stderr, disable=not show,
                          leave=False) as bar:
                    result = requirements_refresh_stored(everything=options["all"], progress=bar.update)
                failed = ", ".join(f"{code} ×{n}" for code, n in sorted(result.failed.items())) or "none"
                self.stdout.write(f"requirements: refreshed {result.refreshed} of {total}; failed: {failed}")
        if only in (None, "statistics"):
            if not nitemtrade_connected():
                self.stdout.write("statistics: skipped (KCS_NITEMTRADE_KEY is unset)")
            else:
                total = NitemtradeFetch.objects.count()
                with tqdm(total=total, unit=" codes", desc="statistics", file=sys.stderr, disable=not show,
                          leave=False) as bar:
                    outcome = nitemtrade_refresh_all(progress=bar.update)
                summary = ", ".join(f"{status} {n}" for status, n in sorted(outcome.items())) or "nothing to do"
                self.stdout.write(f"statistics: {total} codes: {summary}")

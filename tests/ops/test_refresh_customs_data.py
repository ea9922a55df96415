"""manage.py refresh_customs_data fetches old answers again; a failure keeps the previous answer."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from customs.models import RequirementLookup
from customs.services import requirements_refresh
from tests.customs.kcs_fixtures import kcs_fake, kcs_no_keys  # noqa: F401
from trade.live import nitemtrade_fetch, nitemtrade_request
from trade.models import NitemtradeFetch

pytestmark = pytest.mark.django_db


def _run(*args: str) -> str:
    out = StringIO()
    call_command("refresh_customs_data", "--no-progress", *args, stdout=out)
    return out.getvalue()


def test_old_requirements_are_fetched_again_and_statistics_completed(kcs_fake, settings):  # noqa: F811
    requirements_refresh("0203291000", "import")
    requirements_refresh("3307902000", "import")
    old = timezone.now() - dt.timedelta(days=settings.KCS_REQUIREMENTS_MAX_AGE_DAYS + 1)
    RequirementLookup.objects.filter(code="0203291000").update(fetched_at=old)
    settings.KCS_REDIS_PREFIX = kcs_fake.redis_prefix + ":second"  # past the Redis answer cache
    nitemtrade_request("020329")
    nitemtrade_fetch("020329")
    before = kcs_fake.request_count("nitemtrade")
    out = _run()
    assert "requirements: refreshed 1 of 1; failed: none" in out
    assert RequirementLookup.objects.get(code="0203291000").fetched_at > old
    assert "statistics: 1 codes: done 1" in out
    assert kcs_fake.request_count("nitemtrade") == before + 1  # only the months after the newest published one


def test_a_failed_refresh_is_counted_and_keeps_the_previous_answer(kcs_fake, settings):  # noqa: F811
    requirements_refresh("0203291000", "import")
    settings.KCS_REDIS_PREFIX = kcs_fake.redis_prefix + ":second"
    kcs_fake.set_fault("quota", service="ccct_gw")
    out = _run("--all", "--only", "requirements")
    assert "failed: KCS_GATEWAY_QUOTA ×1" in out
    assert RequirementLookup.objects.get(code="0203291000").requirements.count() == 2
    assert NitemtradeFetch.objects.count() == 0


def test_without_keys_every_kind_is_skipped_and_said_so(kcs_no_keys):  # noqa: F811
    out = _run()
    assert "requirements: skipped" in out and "statistics: skipped" in out

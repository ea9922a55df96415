"""/metrics reports each KCS source: calls, errors by code, cache hits, the age of the oldest cached answer."""

from __future__ import annotations

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from customs.services import requirements_refresh
from kcs.service_errors import KcsServiceError
from tests.customs.kcs_fixtures import kcs_fake  # noqa: F401

pytestmark = pytest.mark.django_db


OPERATOR_TOKEN = "metrics-test-token-0123456789"


def _scrape() -> dict[tuple[str, tuple], float]:
    # Tests run with DEBUG off (pytest-django), where /metrics needs the operator's token.
    response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {OPERATOR_TOKEN}")
    assert response.status_code == 200
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_kcs_counters_per_source(kcs_fake, settings):  # noqa: F811
    settings.METRICS_TOKEN = OPERATOR_TOKEN
    requirements_refresh("0203291000", "import")
    requirements_refresh("0203291000", "import")  # answered by the Redis cache
    kcs_fake.set_fault("html_503", service="ccct_gw")
    with pytest.raises(KcsServiceError):
        requirements_refresh("0203291000", "export")
    m = _scrape()
    source = (("source", "ccct_gw"),)
    assert m[("tradechat_kcs_configured", source)] == 1
    assert m[("tradechat_kcs_calls_total", source)] == 2
    assert m[("tradechat_kcs_cache_hits_total", source)] == 1
    assert m[("tradechat_kcs_errors_total", (("code", "KCS_UNAVAILABLE"), ("source", "ccct_gw")))] == 1
    assert 0 <= m[("tradechat_kcs_oldest_cached_answer_age_seconds", source)] < 120
    assert m[("tradechat_kcs_calls_total", (("source", "nitemtrade"),))] == 0
    assert m[("tradechat_scrape_section_up", (("section", "kcs"),))] == 1
    assert 0 <= m[("tradechat_kcs_requirements_oldest_age_seconds", ())] < 120

"""Trade statistics from the (fake) nitemtrade service: fetched the first time the page needs them, ≤ 12 months
per call, checked against the 총계 row, cached per month, drawn as a chart; failures store nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.customs.kcs_fixtures import cached_answers, kcs_fake, kcs_no_keys  # noqa: F401
from tests.fakes.kcs_server import trade_items
from trade.live import months_wanted, nitemtrade_fetch, nitemtrade_request
from trade.models import NitemtradeFetch, NitemtradeMonth, TradeFlow

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("shipped_data")]


def _yyyymm(day: dt.date) -> str:
    return f"{day.year:04d}{day.month:02d}"


def test_the_page_asks_for_the_statistics_and_shows_progress(client, kcs_fake, django_capture_on_commit_callbacks):  # noqa: F811
    with django_capture_on_commit_callbacks() as callbacks:
        page = client.get("/statistics", {"hscode": "0203.29"}).content.decode()
    assert "관세청 수출입실적을 가져오는 중입니다" in page and "<progress" in page
    assert '<meta http-equiv="refresh" content="3">' in page
    assert len(callbacks) == 1  # the task is enqueued once, after commit
    fetch = NitemtradeFetch.objects.get(hs_code="020329")
    assert fetch.status == "queued" and fetch.calls_total == 2  # 24 months = two calls of at most 12
    with django_capture_on_commit_callbacks() as again:
        client.get("/statistics", {"hscode": "0203.29"})
    assert again == []  # a queued fetch is not asked twice


def test_the_fetched_months_are_drawn_as_a_chart_with_partners(client, kcs_fake):  # noqa: F811
    nitemtrade_request("020329")
    fetch = nitemtrade_fetch("020329")
    assert fetch.status == "done" and fetch.calls_done == 2
    assert kcs_fake.request_count("nitemtrade") == 2
    spans = [(q["strtYymm"], q["endYymm"]) for name, q in kcs_fake.requests if name == "nitemtrade"]
    assert all(int(last) - int(first) <= 100 for first, last in spans)  # each call ≤ 12 months
    # The stored figures are the fake's rows, per HSK10 line, partner, month and flow.
    newest = kcs_fake.newest_month
    wanted = months_wanted(timezone.localdate())
    first = _yyyymm(wanted[0])
    items = trade_items("020329", first, newest, newest)
    expected_imports = sum(int(i["impDlr"].replace(",", "")) for i in items)
    stored = sum(TradeFlow.objects.filter(hs_code__startswith="020329", flow="import").values_list(
        "value_usd", flat=True))
    assert stored == Decimal(expected_imports)
    assert NitemtradeMonth.objects.filter(hs_code="020329").count() == len(
        [m for m in wanted if _yyyymm(m) <= newest]
    )
    page = client.get("/statistics", {"hscode": "0203.29", "period": "all"}).content.decode()
    assert '<figure class="trade-chart">' in page and "<rect" in page
    assert "미국" in page and "스페인" in page  # top partner countries
    assert "nitemtrade (공공데이터포털 15100475)" in page  # the source, with its update time
    assert "가져오는 중" not in page


def test_months_already_held_are_not_asked_again(kcs_fake):  # noqa: F811
    nitemtrade_request("020329")
    nitemtrade_fetch("020329")
    calls = kcs_fake.request_count("nitemtrade")
    NitemtradeFetch.objects.update(finished_at=timezone.now() - dt.timedelta(days=2))
    fetch, enqueue = nitemtrade_request("020329")
    # Only the months after the fake's newest month are missing: one call asks for them, none for the rest.
    assert enqueue and fetch.calls_total == 1
    nitemtrade_fetch("020329")
    asked = [q for name, q in kcs_fake.requests if name == "nitemtrade"][calls:]
    assert len(asked) == 1 and asked[0]["strtYymm"] > kcs_fake.newest_month


@pytest.mark.parametrize(("fault", "code", "message"), [
    ("truncated_trade", "KCS_CHECKSUM_MISMATCH", "총계와 맞지 않아"),
    ("quota", "KCS_GATEWAY_QUOTA", "오늘 조회 한도"),
    ("html_503", "KCS_UNAVAILABLE", "점검 중이거나"),
    ("quota_200", "KCS_GATEWAY_QUOTA", "오늘 조회 한도"),
])
def test_a_failed_fetch_stores_nothing_and_says_why(client, kcs_fake, fault, code, message):  # noqa: F811
    kcs_fake.set_fault(fault, service="nitemtrade")
    nitemtrade_request("020329")
    fetch = nitemtrade_fetch("020329")
    assert fetch.status == "failed" and fetch.error_code == code
    assert TradeFlow.objects.count() == 0 and NitemtradeMonth.objects.count() == 0
    assert cached_answers(kcs_fake.redis_prefix) == []
    page = client.get("/statistics", {"hscode": "0203.29"}).content.decode()
    assert message in page and "manage.py" not in page


def test_a_task_delivered_twice_runs_once(kcs_fake):  # noqa: F811
    nitemtrade_request("020329")
    nitemtrade_fetch("020329")
    calls = kcs_fake.request_count("nitemtrade")
    assert nitemtrade_fetch("020329").status == "done"
    assert kcs_fake.request_count("nitemtrade") == calls


def test_without_a_key_nothing_is_asked_and_the_page_says_so(client, kcs_no_keys):  # noqa: F811
    assert nitemtrade_request("020329") == (None, False)
    page = client.get("/statistics", {"hscode": "0203.29"}).content.decode()
    assert "연결되어 있지 않아" in page and "manage.py" not in page

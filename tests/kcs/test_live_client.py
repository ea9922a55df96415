"""The live KCS clients against the fake services (real HTTP on 127.0.0.1, real Redis): every §11 shape parsed,
every failure form with its own code, and nothing from an error ever cached."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from decimal import Decimal

import pytest
import redis

from kcs import live
from kcs import service_errors as codes
from kcs.client import (
    KcsServiceClient,
    KcsServiceConfig,
    fetch_exchange_rates,
    fetch_requirements,
    fetch_tariff_rows,
    fetch_trade,
    week_start,
)
from kcs.service_errors import KcsServiceError
from resilience.config import BreakerConfig, RetryConfig
from tests.fakes.fixtures import redis_url  # noqa: F401
from tests.fakes.kcs_server import KEYS, FakeKcsServer, totals_item, trade_items


@pytest.fixture
def kcs_server() -> Iterator[FakeKcsServer]:
    with FakeKcsServer() as server:
        yield server


@pytest.fixture
def kcs_prefix(redis_url: str) -> Iterator[str]:  # noqa: F811
    prefix = f"test:kcs:{uuid.uuid4().hex[:12]}"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def make_client(kcs_server: FakeKcsServer, kcs_prefix: str, redis_url: str):  # noqa: F811
    made: list[KcsServiceClient] = []

    def make(service: str, *, key: str | None = None, **overrides) -> KcsServiceClient:
        base = kcs_server.gateway_url if service in live.GATEWAY_SERVICES else kcs_server.unipass_url
        config = KcsServiceConfig(
            service=service,
            base_url=base,
            key=KEYS[service] if key is None else key,
            redis_url=redis_url,
            redis_prefix=kcs_prefix,
            **overrides,
        )
        client = KcsServiceClient(config)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def cached_keys(redis_url: str, prefix: str) -> list[bytes]:  # noqa: F811
    client = redis.Redis.from_url(redis_url)
    try:
        return list(client.scan_iter(match=f"{prefix}:cache:*"))
    finally:
        client.close()


# --- successes -------------------------------------------------------------------
def test_gateway_requirements_lists_law_agency_and_document(make_client, kcs_server):
    rows, fetched = fetch_requirements(make_client(live.CCCT_GW), "0203.29-1000", live.IMPORT)
    assert [(r.law_name, r.agency_name, r.document) for r in rows] == [
        ("가축전염병 예방법", "농림축산검역본부", "수입검역증명서"),
        ("수입식품안전관리 특별법", "식품의약품안전처", "수입식품등의 신고확인증"),
    ]
    assert rows[0].valid_from == date(2014, 1, 1) and rows[0].valid_to is None  # the GW gives no end date
    assert rows[0].timing_code == "2" and not fetched.cache_hit
    assert kcs_server.requests[-1][1]["imexTpcd"] == "2"


def test_unipass_requirements_read_both_casings_and_tcnt_positions(make_client):
    client = make_client(live.CCCT_UNIPASS)
    listed, _ = fetch_requirements(client, "0203291000", live.IMPORT)  # lower camelCase, tCnt after the rows
    single, _ = fetch_requirements(client, "3307902000", live.IMPORT)  # PascalCase, tCnt first, one row
    assert [r.law_code for r in listed] == ["05", "47"]  # spelled dcerCrmLworCd by UNI-PASS
    assert [(r.law_name, r.law_code, r.agency_code) for r in single] == [("화장품법", "15", "243")]
    assert single[0].valid_to is None  # <aplyEndDt/> is empty


def test_an_empty_requirements_answer_is_an_empty_list_not_an_error(make_client):
    rows, _ = fetch_requirements(make_client(live.CCCT_UNIPASS), "0101211000", live.EXPORT)
    assert rows == []
    gw_rows, _ = fetch_requirements(make_client(live.CCCT_GW), "0101211000", live.IMPORT)
    assert gw_rows == []


def test_nitemtrade_rows_add_up_to_the_totals_row(make_client, kcs_server):
    newest = kcs_server.newest_month
    first = live.split_span("200001", newest)[-1][0]
    answer, _ = fetch_trade(make_client(live.NITEMTRADE), "020329", first, newest)
    expected = trade_items("020329", first, newest, newest)
    assert len(answer.rows) == len(expected)
    assert answer.totals is not None
    assert answer.totals.import_usd == int(totals_item(expected)["impDlr"])
    assert sum(r.import_usd for r in answer.rows) == answer.totals.import_usd
    us = next(r for r in answer.rows if r.country_code == "US")
    assert us.country_name == "미국" and us.item_name in ("삼겹살", "기타") and us.hs_code.startswith("020329")
    assert us.import_usd == int(next(i for i in expected if i["statCd"] == "US")["impDlr"].replace(",", ""))


def test_nitemtrade_refuses_more_than_twelve_months_before_calling(make_client, kcs_server):
    with pytest.raises(ValueError, match="at most 12 months"):
        fetch_trade(make_client(live.NITEMTRADE), "020329", "202401", "202501")
    assert kcs_server.request_count() == 0
    assert live.split_span("202401", "202512") == [("202401", "202412"), ("202501", "202512")]


def test_unknown_code_gives_empty_trade_without_error(make_client):
    answer, _ = fetch_trade(make_client(live.NITEMTRADE), "999999", "202501", "202506")
    assert answer.rows == () and answer.totals is None


def test_exchange_rates_are_the_weeks_and_drop_the_stale_ecu_row(make_client):
    day = date(2026, 11, 26)  # a Thursday
    rates, _ = fetch_exchange_rates(make_client(live.FX_GW), day)
    by_currency = {r.currency: r for r in rates}
    assert week_start(day) == date(2026, 11, 22)
    assert "ECU" not in by_currency
    assert by_currency["USD"].krw_per_unit == Decimal("1385.20")
    assert by_currency["KRW"].country_code == ""  # empty cntySgn kept as ""
    assert all(r.week_start == date(2026, 11, 22) for r in rates)


def test_api030_rows_keep_trrttpnm_verbatim_and_numbers_as_decimals(make_client):
    rows, _ = fetch_tariff_rows(make_client(live.TARIFF_UNIPASS), "0203291000")
    by_type = {r.rate_type: r for r in rows}
    assert by_type["C"].rate == Decimal("22.5")
    assert by_type["FUS1"].rate_type_name == "한ㆍ미 FTA 협정세율(선택1)"
    assert by_type["A"].specific_duty == "" and by_type["A"].valid_to == date(2026, 12, 31)
    single, _ = fetch_tariff_rows(make_client(live.TARIFF_UNIPASS), "3304991000")  # PascalCase, tCnt after
    assert [(r.rate_type, r.rate) for r in single] == [("A", Decimal("8"))]


def test_a_success_is_cached_and_the_second_call_does_not_reach_the_service(make_client, kcs_server):
    client = make_client(live.CCCT_GW)
    fetch_requirements(client, "0203291000", live.IMPORT)
    rows, fetched = fetch_requirements(client, "0203291000", live.IMPORT)
    assert fetched.cache_hit and len(rows) == 2
    assert kcs_server.request_count("ccct_gw") == 1
    assert client.stats()["cache_hits"] == 1 and client.stats()["calls"] == 1
    assert client.oldest_cached_at() is not None


# --- failures: each form, its own code, nothing cached --------------------------
def _assert_not_cached(redis_url: str, prefix: str) -> None:  # noqa: F811
    assert cached_keys(redis_url, prefix) == []


@pytest.mark.parametrize(
    ("service", "key", "code", "detail"),
    [
        (live.CCCT_UNIPASS, "no-such-key", codes.UNIPASS_KEY_REFUSED, "존재하지 않는 인증키입니다."),
        (live.TARIFF_UNIPASS, KEYS["api029"], codes.UNIPASS_KEY_REFUSED, "인증키상의 API 불일치"),
        (live.CCCT_GW, KEYS["nitemtrade"], codes.GATEWAY_KEY_NOT_REGISTERED, "SERVICE_KEY_IS_NOT_REGISTERED_ERROR"),
        (live.CCCT_GW, "fake%2Dgw%2Dccct%2Dkey", codes.GATEWAY_KEY_NOT_REGISTERED, "NOT_REGISTERED"),  # double-encoded
    ],
)
def test_refused_keys_have_their_own_code_and_are_not_cached(
    make_client, redis_url, kcs_prefix, service, key, code, detail  # noqa: F811
):
    client = make_client(service, key=key)
    with pytest.raises(KcsServiceError) as raised:
        fetch_requirements(client, "0203291000", live.IMPORT) if "ccct" in service or service == "api029" else (
            fetch_tariff_rows(client, "0203291000")
        )
    assert raised.value.code == code
    assert detail in raised.value.detail
    assert key not in str(raised.value)
    _assert_not_cached(redis_url, kcs_prefix)
    assert client.stats()[f"errors:{code}"] == 1


def test_unipass_missing_parameter_is_a_unipass_error(kcs_server, make_client):
    client = make_client(live.CCCT_UNIPASS)
    with pytest.raises(KcsServiceError) as raised:
        client.fetch({"hsSgn": "0203291000"}, lambda s, b: live.unipass_rows("api029", s, b))
    assert raised.value.code == codes.UNIPASS_ERROR and "필수입력" in raised.value.detail


@pytest.mark.parametrize(("fault", "code"), [("quota", codes.GATEWAY_QUOTA), ("quota_200", codes.GATEWAY_QUOTA),
                                            ("html_503", codes.UNAVAILABLE), ("not_xml", codes.MALFORMED),
                                            ("truncated_trade", codes.CHECKSUM_MISMATCH)])
def test_gateway_failure_forms_have_their_own_code_and_are_not_cached(
    make_client, kcs_server, redis_url, kcs_prefix, fault, code  # noqa: F811
):
    kcs_server.set_fault(fault)
    client = make_client(live.NITEMTRADE, retry=RetryConfig(attempts=1))
    with pytest.raises(KcsServiceError) as raised:
        fetch_trade(client, "020329", "202501", "202506")
    assert raised.value.code == code
    _assert_not_cached(redis_url, kcs_prefix)
    kcs_server.clear_faults()
    answer, fetched = fetch_trade(client, "020329", "202501", "202506")  # the next call reaches the service
    assert not fetched.cache_hit and answer.rows


def test_span_refusal_is_read_with_either_result_code(make_client, redis_url, kcs_prefix):  # noqa: F811
    client = make_client(live.NITEMTRADE)
    for _ in range(2):  # the fake alternates resultCode 99 and an empty resultCode
        with pytest.raises(KcsServiceError) as raised:
            client.fetch({"strtYymm": "202401", "endYymm": "202506", "hsSgn": "020329"},
                         lambda s, b: live.gateway_items("nitemtrade", s, b))
        assert raised.value.code == codes.SPAN_TOO_LONG
    _assert_not_cached(redis_url, kcs_prefix)


def test_a_slow_answer_times_out_within_the_budget(make_client, kcs_server, redis_url, kcs_prefix):  # noqa: F811
    kcs_server.set_fault("slow", delay=3.0)
    client = make_client(live.FX_GW, budget_s=1.0, read_timeout_s=0.5, retry=RetryConfig(attempts=1))
    with pytest.raises(KcsServiceError) as raised:
        fetch_exchange_rates(client, date(2026, 11, 26))
    assert raised.value.code == codes.TIMEOUT
    _assert_not_cached(redis_url, kcs_prefix)


def test_a_503_is_retried_and_the_retry_succeeds(make_client, kcs_server):
    kcs_server.set_fault("html_503", times=1)
    client = make_client(live.FX_GW, retry=RetryConfig(attempts=2, wait_initial_s=0.05, wait_max_s=0.1))
    rates, _ = fetch_exchange_rates(client, date(2026, 11, 26))
    assert rates and kcs_server.request_count("fx_gw") == 2


def test_the_breaker_opens_after_repeated_failures_and_refuses_without_calling(make_client, kcs_server):
    kcs_server.set_fault("html_503")
    client = make_client(
        live.FX_GW, retry=RetryConfig(attempts=1), breaker=BreakerConfig(fail_max=2, reset_timeout_s=30)
    )
    for _ in range(2):
        with pytest.raises(KcsServiceError):
            fetch_exchange_rates(client, date(2026, 11, 26))
    with pytest.raises(KcsServiceError) as raised:
        fetch_exchange_rates(client, date(2026, 11, 26))
    assert raised.value.code == codes.CIRCUIT_OPEN
    assert kcs_server.request_count("fx_gw") == 2


def test_no_key_means_no_call(make_client, kcs_server):
    with pytest.raises(KcsServiceError) as raised:
        fetch_requirements(make_client(live.CCCT_GW, key=""), "0203291000", live.IMPORT)
    assert raised.value.code == codes.NOT_CONFIGURED and kcs_server.request_count() == 0


def test_the_key_never_reaches_the_logs(make_client, caplog):
    caplog.set_level(logging.DEBUG)
    fetch_requirements(make_client(live.CCCT_GW), "0203291000", live.IMPORT)
    with pytest.raises(KcsServiceError):
        fetch_requirements(make_client(live.CCCT_UNIPASS, key="secret-wrong-key"), "0203291000", live.IMPORT)
    assert "HTTP Request" in caplog.text  # httpx did log the request …
    assert KEYS["ccct_gw"] not in caplog.text and "secret-wrong-key" not in caplog.text  # … without the key
    assert KEYS["ccct_gw"] not in repr(make_client(live.CCCT_GW).config)


def test_one_client_is_shared_by_threads_and_counts_every_call(make_client, kcs_server):
    client = make_client(live.CCCT_GW)
    codes_asked = [f"01012{i:05d}" for i in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda code: fetch_requirements(client, code, live.IMPORT)[0], codes_asked))
    assert results == [[]] * 8
    assert client.stats()["calls"] == 8 and kcs_server.request_count("ccct_gw") == 8

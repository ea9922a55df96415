"""Both clients against the fake server over real sockets: results, error codes, retries, budget.

Every test runs twice, through the sync and the async client (the `mode` fixture).
"""

from __future__ import annotations

import re
import time

import pytest

from context7_client import (
    CacheConfig,
    Context7ApiError,
    Context7Error,
    Context7LibraryNotFoundError,
    Context7RateLimitedError,
    Context7TimeoutError,
    Context7UnauthorizedError,
    RetryConfig,
)

from .conftest import FAST_RETRY, HS_LIBRARY

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


async def _fails(call) -> Context7Error:
    with pytest.raises(Context7Error) as info:
        await call
    return info.value


# --- success paths ----------------------------------------------------------------
async def test_docs_lookup_returns_parsed_snippets_and_one_call_record(make_api, context7_server):
    api = make_api()
    docs = await api.docs(HS_LIBRARY, "smartphone")
    assert docs.format == "v2-text"
    assert docs.snippets[0].title == "Smartphones: HS 8517.13"
    assert "HS 8517.13 smartphones" in docs.snippets[0].body
    assert docs.snippets[0].code_blocks[0].language == "json"
    assert not docs.cache_hit
    (record,) = docs.calls
    assert record.function == "get_library_docs"
    assert record.success is True
    assert record.input == {"context7CompatibleLibraryID": HS_LIBRARY, "topic": "smartphone", "tokens": None}
    assert record.output == {
        "docs_retrieved": len(docs.snippets),
        "total_tokens": docs.total_tokens,
        "relevant_snippets": docs.relevant_snippets,
    }
    assert TIMESTAMP.match(record.timestamp)
    assert record.duration_ms >= 0
    assert context7_server.request_count("context") == 1


async def test_json_response_type_yields_snippets_with_token_counts_from_the_api(make_api):
    docs = await make_api().docs(HS_LIBRARY, "smartphone", response_type="json")
    assert docs.format == "json"
    assert docs.tokens_estimated is False
    assert docs.total_tokens == sum(s.tokens for s in docs.snippets)
    assert {s.kind for s in docs.snippets} == {"code", "info"}


async def test_older_v1_text_format_is_parsed_too(make_api, context7_server):
    context7_server.text_format = "v1"
    docs = await make_api().docs(HS_LIBRARY, "laptop")
    assert docs.format == "v1-text"
    assert docs.snippets[0].title == "Portable computers: HS 8471.30"
    assert docs.snippets[0].source.endswith("#_snippet_1")


async def test_requests_carry_bearer_key_and_client_identification_headers(make_api, context7_server):
    await make_api(api_key="ctx7sk-test-key").docs()
    headers = {k.lower(): v for k, v in context7_server.requests[-1].headers.items()}
    assert headers["authorization"] == "Bearer ctx7sk-test-key"
    assert headers["x-context7-source"] == "tradechat"
    for name in (
        "x-context7-server-version",
        "x-context7-client-ide",
        "x-context7-client-version",
        "x-context7-transport",
    ):
        assert headers[name]
    assert context7_server.requests[-1].params == {"libraryId": HS_LIBRARY, "query": "smartphone"}


async def test_resolve_library_id_picks_the_matching_library_and_records_the_call(make_api, context7_server):
    search = await make_api().resolve("Korea Customs Tariff", "스마트폰")
    assert search.library_id == "/kcs/korea-customs-tariff"
    assert search.best.trust_score is None  # optional fields absent in the payload
    (record,) = search.calls
    assert record.function == "resolve_library_id"
    assert record.input == {"libraryName": "Korea Customs Tariff"}
    assert record.output == {"library_id": "/kcs/korea-customs-tariff", "results": len(search.results)}
    assert len(search.results) == 2  # "Customs" also matches the WCO library; the exact name wins
    assert context7_server.requests[-1].params == {"libraryName": "Korea Customs Tariff", "query": "스마트폰"}


async def test_library_search_without_match_is_empty_and_resolve_raises_library_not_found(make_api):
    api = make_api()
    search = await api.search("no such library anywhere")
    assert search.results == ()
    error = await _fails(api.resolve("no such library anywhere"))
    assert isinstance(error, Context7LibraryNotFoundError)
    assert error.code == "CONTEXT7_LIBRARY_NOT_FOUND"
    assert len(error.calls) == 1 and error.calls[0].success is True


# A loaded 2-core CI machine can delay a thread's wake-up by a second or more; the timing assertions below are
# about a budget cutting off a hang of 15-30 s, so this slack does not weaken them.
SLACK_S = 2.0


# --- error mapping and retries ----------------------------------------------------------
async def test_rate_limit_with_retry_after_inside_the_budget_waits_then_retries(make_api, context7_server):
    context7_server.set_fault("rate_limit", retry_after=0.3, times=1)
    started = time.monotonic()
    docs = await make_api(budget_s=1.5).docs()
    assert time.monotonic() - started >= 0.3  # Retry-After honoured, not the short exponential backoff
    assert docs.snippets
    assert context7_server.request_count() == 2
    assert [r.success for r in docs.calls] == [False, True]  # every HTTP call is recorded
    assert docs.calls[0].output["error"] == "CONTEXT7_RATE_LIMITED"


async def test_rate_limit_with_retry_after_beyond_the_budget_fails_at_once_without_retry(make_api, context7_server):
    context7_server.set_fault("rate_limit", retry_after=30)
    started = time.monotonic()
    error = await _fails(make_api(budget_s=1.0).docs())
    assert time.monotonic() - started < SLACK_S  # nowhere near the 30 s the server asked for
    assert isinstance(error, Context7RateLimitedError)
    assert (error.code, error.http_status, error.retry_after, error.retryable) == (
        "CONTEXT7_RATE_LIMITED",
        429,
        30.0,
        True,
    )
    assert context7_server.request_count() == 1


@pytest.mark.parametrize("status", [500, 503])
async def test_server_errors_are_retried_until_attempts_run_out(make_api, context7_server, status):
    context7_server.set_fault("server_error", status=status)
    error = await _fails(make_api().docs())
    assert isinstance(error, Context7ApiError)
    assert (error.code, error.http_status) == ("CONTEXT7_API_FAILURE", status)
    assert context7_server.request_count() == FAST_RETRY.attempts
    assert len(error.calls) == FAST_RETRY.attempts
    assert all(not r.success and r.output["http_status"] == status for r in error.calls)
    assert all(TIMESTAMP.match(r.timestamp) for r in error.calls)


async def test_transient_503_recovers_on_retry(make_api, context7_server):
    context7_server.set_fault("server_error", status=503, times=2)
    docs = await make_api().docs()
    assert docs.snippets
    assert context7_server.request_count() == 3


@pytest.mark.parametrize(("status", "api_error"), [(401, "invalid_api_key"), (403, "access_denied")])
async def test_unauthorized_is_never_retried(make_api, context7_server, status, api_error):
    context7_server.set_fault("unauthorized", status=status)
    error = await _fails(make_api().docs())
    assert isinstance(error, Context7UnauthorizedError)
    assert (error.code, error.http_status, error.api_error, error.retryable) == (
        "CONTEXT7_UNAUTHORIZED",
        status,
        api_error,
        False,
    )
    assert context7_server.request_count() == 1


async def test_wrong_api_key_against_a_server_requiring_one_is_unauthorized(make_api, context7_server):
    context7_server.api_key = "ctx7sk-right"
    error = await _fails(make_api(api_key="ctx7sk-wrong").docs())
    assert error.code == "CONTEXT7_UNAUTHORIZED"
    docs = await make_api(api_key="ctx7sk-right").docs()
    assert docs.snippets


async def test_404_library_not_found_maps_to_library_not_found_without_retry(make_api, context7_server):
    error = await _fails(make_api().docs("/nobody/nothing", "smartphone"))
    assert isinstance(error, Context7LibraryNotFoundError)
    assert (error.code, error.http_status, error.api_error) == ("CONTEXT7_LIBRARY_NOT_FOUND", 404, "library_not_found")
    assert context7_server.request_count() == 1

    context7_server.set_fault("library_not_found", endpoint="search")
    error = await _fails(make_api().search("HS Nomenclature"))
    assert error.code == "CONTEXT7_LIBRARY_NOT_FOUND"


async def test_404_no_relevant_snippets_is_an_empty_result_not_library_missing(make_api, context7_server):
    context7_server.set_fault("no_relevant_snippets")
    docs = await make_api().docs()
    assert docs.empty and docs.snippets == ()
    assert docs.calls[0].success is True
    assert docs.calls[0].output == {"docs_retrieved": 0, "total_tokens": 0, "relevant_snippets": 0}
    assert context7_server.request_count() == 1
    # and the same answer produced by the server's own ranking
    context7_server.clear_faults()
    assert (await make_api().docs(HS_LIBRARY, "zebra crossing")).empty


async def test_other_4xx_is_api_failure_and_never_retried(make_api, context7_server):
    context7_server.set_fault("status", status=400, error="validation_error", message="Query is required")
    error = await _fails(make_api().docs())
    assert (error.code, error.http_status, error.retryable) == ("CONTEXT7_API_FAILURE", 400, False)
    assert context7_server.request_count() == 1


async def test_malformed_json_maps_to_api_failure_without_retry(make_api, context7_server):
    context7_server.set_fault("malformed_json")
    error = await _fails(make_api().search("HS Nomenclature"))
    assert isinstance(error, Context7ApiError)
    assert error.code == "CONTEXT7_API_FAILURE"
    assert "malformed" in error.message
    assert context7_server.request_count() == 1
    error = await _fails(make_api().docs(response_type="json"))
    assert error.code == "CONTEXT7_API_FAILURE"


async def test_truncated_body_maps_to_api_failure_after_retries(make_api, context7_server):
    context7_server.set_fault("truncated")
    error = await _fails(make_api().docs())
    assert error.code == "CONTEXT7_API_FAILURE"
    assert error.http_status == 200
    assert context7_server.request_count() == FAST_RETRY.attempts


async def test_connection_reset_maps_to_api_failure_after_retries(make_api, context7_server):
    context7_server.set_fault("reset")
    error = await _fails(make_api().docs())
    assert error.code == "CONTEXT7_API_FAILURE"
    assert error.http_status is None
    assert "network error" in error.message
    assert context7_server.request_count() == FAST_RETRY.attempts


async def test_connection_reset_once_recovers_on_retry(make_api, context7_server):
    context7_server.set_fault("reset", times=1)
    assert (await make_api().docs()).snippets
    assert context7_server.request_count() == 2


async def test_html_502_from_an_intermediary_is_api_failure(make_api, context7_server):
    context7_server.set_fault("html_error")
    error = await _fails(make_api().docs())
    assert (error.code, error.http_status) == ("CONTEXT7_API_FAILURE", 502)


# --- the time budget ---------------------------------------------------------------
async def test_slow_server_times_out_within_the_budget(make_api, context7_server):
    context7_server.set_fault("latency", delay=15)
    api = make_api(budget_s=1.0, read_timeout_s=1.5)
    started = time.monotonic()
    error = await _fails(api.docs())
    elapsed = time.monotonic() - started
    assert isinstance(error, Context7TimeoutError)
    assert error.code == "CONTEXT7_TIMEOUT"
    assert 0.9 <= elapsed < 1.0 + SLACK_S
    assert error.calls and not error.calls[0].success


async def test_read_timeout_shorter_than_budget_leaves_room_for_a_retry(make_api, context7_server):
    context7_server.set_fault("latency", delay=15, times=1)
    started = time.monotonic()
    docs = await make_api(budget_s=1.5, read_timeout_s=0.4).docs()
    assert time.monotonic() - started < 1.5 + SLACK_S
    assert docs.snippets
    assert context7_server.request_count() == 2


async def test_body_trickling_past_the_budget_is_cut_off(make_api, context7_server):
    context7_server.set_fault("slow_body", interval=0.2)
    started = time.monotonic()
    error = await _fails(make_api(budget_s=1.0, read_timeout_s=0.8).docs())
    assert error.code == "CONTEXT7_TIMEOUT"
    assert time.monotonic() - started < 1.0 + SLACK_S


async def test_default_budget_of_two_seconds_bounds_a_hanging_server(make_api, context7_server):
    context7_server.set_fault("latency", delay=15)
    started = time.monotonic()
    error = await _fails(make_api(budget_s=2.0, read_timeout_s=1.5, retry=RetryConfig()).docs())
    assert error.code == "CONTEXT7_TIMEOUT"
    assert time.monotonic() - started < 2.0 + SLACK_S


# --- cache -------------------------------------------------------------------------------
async def test_second_identical_lookup_is_served_from_the_redis_cache(
    make_api, context7_server, redis_url, redis_prefix
):
    import redis

    api = make_api(cache=CacheConfig(enabled=True, ttl_s=3600))
    first = await api.docs(HS_LIBRARY, "smartphone")
    second = await api.docs(HS_LIBRARY, "  Smartphone ")  # normalised: same key
    assert not first.cache_hit and second.cache_hit
    assert second.calls == ()
    assert second.snippets == first.snippets
    assert context7_server.request_count() == 1
    stats = await api.stats()
    assert stats["cache_hits"] == 1 and stats["cache_misses"] == 1
    client = redis.Redis.from_url(redis_url)
    try:
        (key,) = list(client.scan_iter(match=f"{redis_prefix}:cache:*"))
        assert 3590 <= client.ttl(key) <= 3600
        assert client.hget(f"{redis_prefix}:stats", "cache_hits") == b"1"
    finally:
        client.close()


async def test_empty_results_are_cached_briefly_and_failures_not_at_all(
    make_api, context7_server, redis_url, redis_prefix
):
    import redis

    api = make_api(cache=CacheConfig(enabled=True, ttl_s=3600, empty_ttl_s=120))
    context7_server.set_fault("no_relevant_snippets", times=1)
    assert (await api.docs(HS_LIBRARY, "smartphone")).empty
    assert (await api.docs(HS_LIBRARY, "smartphone")).cache_hit
    context7_server.set_fault("server_error", status=500)
    await _fails(api.docs(HS_LIBRARY, "laptop"))
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{redis_prefix}:cache:*"))
        assert len(keys) == 1
        assert 0 < client.ttl(keys[0]) <= 120
    finally:
        client.close()


async def test_use_cache_false_skips_the_read_but_refreshes_the_entry(make_api, context7_server):
    api = make_api(cache=CacheConfig(enabled=True))
    await api.docs()
    refreshed = await api.docs(use_cache=False)
    assert not refreshed.cache_hit
    assert (await api.docs()).cache_hit
    assert context7_server.request_count() == 2


async def test_lookups_work_without_redis_when_it_is_unreachable(make_api, context7_server):
    api = make_api(redis_url="redis://127.0.0.1:1/0", cache=CacheConfig(enabled=True))
    assert (await api.docs()).snippets
    status = await api.breaker_status()
    assert status.shared is False and status.state == "closed"

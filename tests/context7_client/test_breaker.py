"""The Redis-shared circuit breaker: opening, half-open probes, listeners, several processes."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from context7_client import (
    BreakerConfig,
    BreakerListener,
    CacheConfig,
    Context7CircuitOpenError,
    Context7Client,
    Context7Error,
    RetryConfig,
)
from tests.fakes.context7_server import FakeContext7Process
from tests.fakes.context7_worker import WorkerProcess

ONE_ATTEMPT = RetryConfig(attempts=1)
# Long enough that "still open" is never a race on a loaded machine; the tests wait for it to pass by state.
RESET_S = 3.0


def _wait_until(predicate, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} within {timeout} s")
        time.sleep(0.05)


async def _wait_for_the_reset_timeout(api, timeout: float = 20.0) -> None:
    """Until the open breaker lets a probe through (its retry_after has run out)."""
    deadline = time.monotonic() + timeout
    while (await api.breaker_status()).retry_after_s > 0:
        if time.monotonic() > deadline:
            raise AssertionError(f"the breaker's reset timeout did not pass within {timeout} s")
        time.sleep(0.05)


async def _fails(call) -> Context7Error:
    with pytest.raises(Context7Error) as info:
        await call
    return info.value


async def _trip(api, server, times: int = 5) -> None:
    server.set_fault("server_error", status=500)
    for _ in range(times):
        assert (await _fails(api.docs())).code == "CONTEXT7_API_FAILURE"


async def test_breaker_opens_after_five_failed_lookups_and_then_refuses_without_calling_the_server(
    make_api, context7_server
):
    api = make_api(retry=ONE_ATTEMPT)
    await _trip(api, context7_server, times=4)
    assert (await api.breaker_status()).state == "closed"
    assert (await api.breaker_status()).failures == 4
    assert (await _fails(api.docs())).code == "CONTEXT7_API_FAILURE"  # the fifth failure opens it
    status = await api.breaker_status()
    assert status.state == "open"
    assert 25 < status.retry_after_s <= 30

    error = await _fails(api.docs())
    assert isinstance(error, Context7CircuitOpenError)
    assert (error.code, error.retryable, error.http_status, error.calls) == ("CONTEXT7_CIRCUIT_OPEN", True, None, ())
    assert 25 < error.retry_after <= 30
    assert context7_server.request_count() == 5
    assert (await api.stats())["errors:CONTEXT7_CIRCUIT_OPEN"] == 1


async def test_one_lookup_with_its_retries_counts_as_one_failure(make_api, context7_server):
    api = make_api()  # 3 attempts per lookup
    context7_server.set_fault("server_error", status=503)
    await _fails(api.docs())
    assert context7_server.request_count() == 3
    assert (await api.breaker_status()).failures == 1


async def test_breaker_closes_after_a_successful_probe_once_the_reset_timeout_passes(make_api, context7_server):
    api = make_api(retry=ONE_ATTEMPT, breaker=BreakerConfig(fail_max=5, reset_timeout_s=RESET_S))
    await _trip(api, context7_server)
    context7_server.clear_faults()
    assert (await _fails(api.docs())).code == "CONTEXT7_CIRCUIT_OPEN"  # still inside the reset timeout
    await _wait_for_the_reset_timeout(api)
    docs = await api.docs()  # the half-open probe
    assert docs.snippets
    status = await api.breaker_status()
    assert (status.state, status.failures) == ("closed", 0)
    assert (await api.docs()).snippets


async def test_failed_probe_opens_the_breaker_again_for_a_full_reset_timeout(make_api, context7_server):
    api = make_api(retry=ONE_ATTEMPT, breaker=BreakerConfig(fail_max=5, reset_timeout_s=RESET_S))
    await _trip(api, context7_server)
    await _wait_for_the_reset_timeout(api)
    assert (await _fails(api.docs())).code == "CONTEXT7_API_FAILURE"  # the probe reached the server and failed
    assert context7_server.request_count() == 6
    status = await api.breaker_status()
    assert status.state == "open" and status.retry_after_s > RESET_S / 2
    assert (await _fails(api.docs())).code == "CONTEXT7_CIRCUIT_OPEN"
    assert context7_server.request_count() == 6


@pytest.mark.parametrize("fault", ["unauthorized", "library_not_found", "no_relevant_snippets"])
async def test_answers_that_prove_the_service_is_up_never_trip_the_breaker(make_api, context7_server, fault):
    api = make_api(retry=ONE_ATTEMPT)
    context7_server.set_fault(fault)
    for _ in range(7):
        try:
            await api.docs()
        except Context7Error as error:
            assert error.code != "CONTEXT7_CIRCUIT_OPEN"
    assert context7_server.request_count() == 7
    assert (await api.breaker_status()).state == "closed"


@pytest.mark.parametrize(
    ("fault", "params"), [("rate_limit", {"retry_after": 60}), ("reset", {}), ("malformed_json", {})]
)
async def test_rate_limits_network_errors_and_malformed_bodies_count_as_failures(
    make_api, context7_server, fault, params
):
    api = make_api(retry=ONE_ATTEMPT)
    context7_server.set_fault(fault, **params)
    for _ in range(5):
        await _fails(api.search("HS Nomenclature"))
    assert (await api.breaker_status()).state == "open"


async def test_cached_answers_are_still_served_while_the_breaker_is_open(make_api, context7_server):
    api = make_api(retry=ONE_ATTEMPT, cache=CacheConfig(enabled=True))
    await api.docs(query="laptop")
    await _trip(api, context7_server)
    assert (await api.docs(query="laptop")).cache_hit
    assert (await _fails(api.docs(query="cosmetics"))).code == "CONTEXT7_CIRCUIT_OPEN"


def test_half_open_admits_one_probe_at_a_time(make_config, context7_server):
    config = make_config(
        retry=ONE_ATTEMPT, budget_s=8.0, read_timeout_s=6.0,
        breaker=BreakerConfig(fail_max=5, reset_timeout_s=RESET_S),
    )
    with Context7Client(config) as client:
        context7_server.set_fault("server_error", status=500)
        for _ in range(5):
            with pytest.raises(Context7Error):
                client.get_library_docs("/wco/hs-nomenclature-2022", "smartphone")
        context7_server.clear_faults()
        context7_server.set_fault("latency", delay=3.0, times=1)  # the probe waits at the server meanwhile
        _wait_until(lambda: client.breaker_status().retry_after_s <= 0, "past the reset timeout")
        sent = context7_server.request_count()
        results: list[object] = []
        probe = threading.Thread(
            target=lambda: results.append(client.get_library_docs("/wco/hs-nomenclature-2022", "smartphone"))
        )
        probe.start()
        _wait_until(lambda: context7_server.request_count() > sent, "the probe at the server")  # in flight
        with pytest.raises(Context7CircuitOpenError):
            client.get_library_docs("/wco/hs-nomenclature-2022", "laptop")
        assert probe.is_alive(), "the probe ended before the second call was refused: the test proved nothing"
        probe.join(timeout=15)
        assert results and results[0].snippets
        assert client.breaker_status().state == "closed"
        assert client.get_library_docs("/wco/hs-nomenclature-2022", "laptop").snippets


class Recorder(BreakerListener):
    def __init__(self) -> None:
        self.changes: list[tuple[str, str, str]] = []

    def state_change(self, name: str, old: str, new: str, origin: str) -> None:
        self.changes.append((old, new, origin))


def test_state_changes_reach_listeners_and_the_log_including_changes_made_elsewhere(
    make_config, context7_server, caplog
):
    config = make_config(retry=ONE_ATTEMPT, breaker=BreakerConfig(fail_max=5, reset_timeout_s=RESET_S))
    mine, theirs = Recorder(), Recorder()
    caplog.set_level(logging.INFO, logger="context7_client.breaker")
    with Context7Client(config) as a, Context7Client(config, listeners=(mine, theirs)) as b:
        # b has seen the breaker closed; a then trips it
        assert b.get_library_docs("/wco/hs-nomenclature-2022", "smartphone").snippets
        context7_server.set_fault("server_error", status=500)
        for _ in range(5):
            with pytest.raises(Context7Error):
                a.get_library_docs("/wco/hs-nomenclature-2022", "smartphone")
        assert "closed -> open (local)" in caplog.text
        assert b.breaker_status().state == "open"
        assert mine.changes == [("closed", "open", "observed")]
        context7_server.clear_faults()
        _wait_until(lambda: b.breaker_status().retry_after_s <= 0, "past the reset timeout")
        assert b.get_library_docs("/wco/hs-nomenclature-2022", "laptop").snippets
        assert mine.changes[1:] == [("open", "half-open", "local"), ("half-open", "closed", "local")]
        assert theirs.changes == mine.changes


def test_breaker_state_is_shared_by_separate_worker_processes(redis_url, redis_prefix):
    """Two OS processes (plus the fake server in a third) share one breaker through Redis."""
    with FakeContext7Process() as server:
        options = {"fail_max": 5, "reset_timeout": 5.0, "attempts": 1}
        a = WorkerProcess(server.url, redis_url, redis_prefix, **options)
        b = WorkerProcess(server.url, redis_url, redis_prefix, **options)
        try:
            assert a.pid != b.pid
            assert b.docs()["ok"] is True  # both working, breaker closed
            server.set_fault("server_error", status=500)
            for _ in range(5):
                assert a.docs() == {"ok": False, "code": "CONTEXT7_API_FAILURE", "calls": 1}
            sent = server.request_count()
            assert b.docs() == {"ok": False, "code": "CONTEXT7_CIRCUIT_OPEN", "calls": 0}
            assert a.docs()["code"] == "CONTEXT7_CIRCUIT_OPEN"
            assert server.request_count() == sent  # neither process called the server
            assert a.status()["state"] == b.status()["state"] == "open"

            server.clear_faults()
            _wait_until(lambda: b.status()["retry_after_s"] <= 0, "past the reset timeout")
            assert b.docs()["ok"] is True  # b's half-open probe succeeds and closes it for everyone
            assert a.status()["state"] == "closed"
            assert a.docs()["ok"] is True
        finally:
            log_a, log_b = a.stop(), b.stop()
    assert "closed -> open (local)" in log_a
    assert "closed -> open (observed)" in log_b
    assert "open -> half-open (local)" in log_b and "half-open -> closed (local)" in log_b


async def test_a_lookup_that_never_reached_the_server_gives_the_breaker_no_verdict(make_api, context7_server):
    api = make_api()
    for _ in range(6):
        error = await _fails(api.docs(budget_s=0.01))  # less than one attempt's minimum
        assert (error.code, error.calls) == ("CONTEXT7_TIMEOUT", ())
    assert context7_server.request_count() == 0
    status = await api.breaker_status()
    assert (status.state, status.failures) == ("closed", 0)

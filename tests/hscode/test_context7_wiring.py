"""hscode.context7_consult (settings, consult, merge, seed 002 shapes) and the context7_lookup command,
against the fake Context7 server over real sockets and real Redis."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from context7_client import Context7CircuitOpenError, Context7Error, Context7TimeoutError
from hscode import context7_consult as wiring
from hscode.context7_consult import (
    acontext7_consult,
    context7_consult,
    context7_enabled,
    context7_error_event_data,
    merge_candidates,
    reset_clients,
)
from tests.fakes.fixtures import context7_server, redis_prefix, redis_url  # noqa: F401

HS_LIBRARY = "/wco/hs-nomenclature-2022"
LOCAL = [
    {"code": "8517.13", "confidence": 0.6, "description": "Smartphones", "source": "lexical", "evidence": ["스마트폰"]},
    {"code": "8471.30", "confidence": 0.2, "description": "Portable computers", "source": "cases"},
]
ROOT = Path(__file__).resolve().parents[2]

SEED_CALL_KEYS = {"function", "input", "output", "duration_ms", "success", "timestamp"}
SEED_RESULTS_KEYS = {"hscode_patterns_found", "context7_confidence", "documentation_relevance", "extracted_insights"}
SEED_PERFORMANCE_KEYS = {
    "total_api_calls",
    "total_duration_ms",
    "success_rate",
    "tokens_consumed",
    "cache_hits",
    "error_count",
}


@pytest.fixture
def c7(settings, context7_server, redis_url, redis_prefix):  # noqa: F811
    """Settings pointing the wiring at the fake server and a per-test Redis prefix.

    The budget is generous so that a loaded CI machine cannot turn a healthy reply into a timeout; the tests
    about the budget itself set a tight one.
    """
    settings.CONTEXT7_API_URL = context7_server.url
    settings.CONTEXT7_API_KEY = ""
    settings.CONTEXT7_LIBRARY_ID = HS_LIBRARY
    settings.CONTEXT7_LIBRARY_NAME = ""
    settings.CONTEXT7_REDIS_URL = redis_url
    settings.CONTEXT7_REDIS_PREFIX = redis_prefix
    settings.CONTEXT7_BUDGET_S = 3.0
    settings.CONTEXT7_READ_TIMEOUT_S = 2.0
    settings.CONTEXT7_RETRY_ATTEMPTS = 3
    settings.CONTEXT7_RETRY_WAIT_INITIAL_S = 0.01
    settings.CONTEXT7_RETRY_WAIT_MAX_S = 0.05
    settings.CONTEXT7_RETRY_JITTER_S = 0.01
    settings.CONTEXT7_BREAKER_FAIL_MAX = 5
    settings.CONTEXT7_BREAKER_RESET_S = 30
    settings.CONTEXT7_CACHE_ENABLED = True
    yield context7_server
    reset_clients()


def test_context7_is_enabled_by_a_library_id_or_a_library_name(settings):
    settings.CONTEXT7_LIBRARY_ID = ""
    settings.CONTEXT7_LIBRARY_NAME = ""
    assert context7_enabled() is False
    settings.CONTEXT7_LIBRARY_NAME = "HS Nomenclature"
    assert context7_enabled() is True
    settings.CONTEXT7_LIBRARY_NAME = ""
    settings.CONTEXT7_LIBRARY_ID = HS_LIBRARY
    assert context7_enabled() is True


def test_disabled_consult_returns_the_local_candidates_without_any_call(settings, c7):
    settings.CONTEXT7_LIBRARY_ID = ""
    outcome = context7_consult("스마트폰", "HS 코드가 뭐야?", LOCAL)
    assert outcome.error is None and outcome.calls == 0
    assert [c["code"] for c in outcome.candidates] == ["8517.13", "8471.30"]
    assert outcome.analysis["performance"]["total_api_calls"] == 0
    assert c7.request_count() == 0


def test_documentation_agreeing_with_a_local_candidate_raises_its_confidence(c7):
    outcome = context7_consult("smartphone", "What is the HS code?", LOCAL)
    assert outcome.error is None
    top = outcome.candidates[0]
    assert top["code"] == "8517.13"
    assert top["source"] == "local+context7"
    assert top["local_source"] == "lexical"
    assert top["evidence"] == ["스마트폰"]  # keys of the local candidate are kept
    assert top["confidence"] > 0.6
    # noisy-OR of 0.6 (local) and the Context7 confidence of 8517.13
    c7_conf = top["context7_confidence"]
    assert top["confidence"] == round(1 - (1 - 0.6) * (1 - c7_conf), 3)
    assert "8517.13" in top["context7_context"]


def test_codes_only_the_documentation_names_are_added_as_capped_context7_candidates(c7):
    outcome = context7_consult("smartphone", "HS code", LOCAL)
    context7_only = [c for c in outcome.candidates if c["source"] == "context7"]
    assert {c["code"] for c in context7_only} >= {"8517.14", "8507.60"}
    assert all(c["confidence"] <= wiring.CONTEXT7_ONLY_MAX for c in context7_only)
    assert all(c["reference"].startswith("https://") and c["context"] for c in context7_only)
    confidences = [c["confidence"] for c in outcome.candidates]
    assert confidences == sorted(confidences, reverse=True)


def test_merge_rule_heading_only_agreement_adds_half_the_context7_confidence():
    findings = [
        {"code": "8517", "level": 4, "confidence": 0.5, "context": "heading 8517", "title": "t", "source": "s"},
    ]
    (merged,) = merge_candidates(
        [{"code": "8517.13", "confidence": 0.4, "description": "d", "source": "lexical"}], findings
    )
    assert merged["source"] == "lexical"
    assert merged["context7_support"] == "heading"
    assert merged["confidence"] == round(1 - 0.6 * (1 - 0.25), 3)


def test_merge_rule_leaves_unsupported_local_candidates_unchanged():
    local = [{"code": "0303.89", "confidence": 0.7, "description": "fish", "source": "lexical"}]
    assert merge_candidates(local, []) == local


def test_analysis_has_the_seed_002_context7_analysis_shape(c7):
    analysis = context7_consult("smartphone", "HS code", LOCAL).analysis
    assert set(analysis) == {"api_calls", "analysis_results", "performance"}
    assert set(analysis["analysis_results"]) == SEED_RESULTS_KEYS
    assert set(analysis["performance"]) == SEED_PERFORMANCE_KEYS
    (call,) = analysis["api_calls"]
    assert set(call) == SEED_CALL_KEYS
    assert call["function"] == "get_library_docs"
    assert set(call["input"]) == {"context7CompatibleLibraryID", "topic", "tokens"}
    assert set(call["output"]) == {"docs_retrieved", "total_tokens", "relevant_snippets"}
    results = analysis["analysis_results"]
    assert "8517.13" in results["hscode_patterns_found"]
    assert 0 < results["context7_confidence"] <= 0.9
    assert 0 < results["documentation_relevance"] <= 1
    assert any("8517.13" in line for line in results["extracted_insights"])
    perf = analysis["performance"]
    assert perf["total_api_calls"] == 1 and perf["success_rate"] == 1.0 and perf["error_count"] == 0
    assert perf["tokens_consumed"] == call["output"]["total_tokens"] > 0
    assert perf["total_duration_ms"] == call["duration_ms"]


def test_a_library_name_is_resolved_once_per_process(settings, c7):
    settings.CONTEXT7_LIBRARY_ID = ""
    settings.CONTEXT7_LIBRARY_NAME = "HS Nomenclature"
    settings.CONTEXT7_CACHE_ENABLED = False
    first = context7_consult("smartphone", "HS code", LOCAL)
    second = context7_consult("laptop", "HS code", LOCAL)
    assert first.library_id == second.library_id == HS_LIBRARY
    assert [c["function"] for c in first.analysis["api_calls"]] == ["resolve_library_id", "get_library_docs"]
    assert [c["function"] for c in second.analysis["api_calls"]] == ["get_library_docs"]
    assert c7.request_count("search") == 1
    assert c7.request_count("context") == 2


def test_a_second_identical_consult_is_served_from_the_cache(c7):
    first = context7_consult("smartphone", "HS code", LOCAL)
    second = context7_consult("smartphone", "HS code", LOCAL)
    assert (first.cache_hit, second.cache_hit) == (False, True)
    assert second.calls == 0
    assert second.analysis["performance"]["cache_hits"] == 1
    assert second.candidates == first.candidates
    assert c7.request_count() == 1


@pytest.mark.parametrize(
    ("fault", "params", "code"),
    [
        ("reset", {}, "CONTEXT7_API_FAILURE"),
        ("server_error", {"status": 503}, "CONTEXT7_API_FAILURE"),
        ("rate_limit", {"retry_after": 60}, "CONTEXT7_RATE_LIMITED"),
        ("unauthorized", {}, "CONTEXT7_UNAUTHORIZED"),
        ("library_not_found", {}, "CONTEXT7_LIBRARY_NOT_FOUND"),
        ("malformed_json", {}, "CONTEXT7_API_FAILURE"),
    ],
)
def test_consult_never_raises_and_falls_back_to_the_local_candidates(c7, fault, params, code):
    c7.set_fault(fault, **params)
    outcome = context7_consult("smartphone", "HS code", LOCAL)
    assert isinstance(outcome.error, Context7Error)
    assert outcome.error.code == code
    assert outcome.fallback_used
    assert [(c["code"], c["confidence"], c["source"]) for c in outcome.candidates] == [
        ("8517.13", 0.6, "lexical"),
        ("8471.30", 0.2, "cases"),
    ]
    perf = outcome.analysis["performance"]
    assert perf["error_count"] >= 1 and perf["success_rate"] == 0.0
    assert perf["total_api_calls"] == outcome.calls == len(outcome.error.calls)


def test_malformed_search_answer_while_resolving_falls_back_too(settings, c7):
    settings.CONTEXT7_LIBRARY_ID = ""
    settings.CONTEXT7_LIBRARY_NAME = "HS Nomenclature"
    c7.set_fault("malformed_json", endpoint="search")
    outcome = context7_consult("smartphone", "HS code", LOCAL)
    assert outcome.error.code == "CONTEXT7_API_FAILURE"
    assert outcome.error.endpoint == "resolve_library_id"
    assert outcome.analysis["api_calls"][0]["function"] == "resolve_library_id"


def test_consult_finishes_within_the_budget_when_the_server_hangs(settings, c7):
    settings.CONTEXT7_LIBRARY_ID = ""
    settings.CONTEXT7_LIBRARY_NAME = "HS Nomenclature"  # two calls must share the one budget
    settings.CONTEXT7_BUDGET_S = 1.0
    settings.CONTEXT7_READ_TIMEOUT_S = 0.8
    c7.set_fault("latency", delay=15)
    started = time.monotonic()
    outcome = context7_consult("smartphone", "HS code", LOCAL)
    elapsed = time.monotonic() - started
    assert isinstance(outcome.error, Context7TimeoutError)
    assert elapsed < 1.0 + 2.0  # the 15 s hang is cut at the budget; 2 s of slack for a loaded CI machine
    assert outcome.latency_ms <= 3000
    assert outcome.candidates[0]["code"] == "8517.13"


def test_open_breaker_outcome_and_event_say_circuit_open_with_retry_after(settings, c7):
    settings.CONTEXT7_RETRY_ATTEMPTS = 1
    c7.set_fault("server_error", status=500)
    for query in ("a1", "a2", "a3", "a4", "a5"):
        assert context7_consult(query, "HS code", LOCAL).error.code == "CONTEXT7_API_FAILURE"
    outcome = context7_consult("smartphone", "HS code", LOCAL)
    assert isinstance(outcome.error, Context7CircuitOpenError)
    assert outcome.calls == 0
    assert outcome.analysis["performance"]["error_count"] == 1
    data = context7_error_event_data(outcome.error, {"buttonsGenerated": 1})
    assert data["errorCode"] == "CONTEXT7_CIRCUIT_OPEN"
    assert 0 < data["retryInfo"]["retryAfter"] <= 30
    assert data["retryInfo"]["maxRetries"] == 1


async def test_async_consult_gives_the_same_merge_as_the_sync_one(c7):
    sync_outcome = context7_consult("smartphone", "HS code", LOCAL)
    async_outcome = await acontext7_consult("smartphone", "HS code", LOCAL)
    assert async_outcome.error is None
    assert async_outcome.cache_hit  # the sync call filled the shared Redis cache
    assert async_outcome.candidates == sync_outcome.candidates
    c7.set_fault("reset")
    failed = await acontext7_consult("laptop", "HS code", LOCAL)
    assert failed.error.code == "CONTEXT7_API_FAILURE"
    await wiring.get_async_client().aclose()


def test_an_unexpected_internal_error_is_reported_not_raised(c7, monkeypatch):
    def broken():
        raise RuntimeError("boom")

    monkeypatch.setattr(wiring, "get_client", broken)
    outcome = context7_consult("smartphone", "HS code", LOCAL)
    assert outcome.error.code == "CONTEXT7_API_FAILURE"
    assert [c["code"] for c in outcome.candidates] == ["8517.13", "8471.30"]


# --- detail_page_buttons_error -------------------------------------------------------
SEED_ERROR_KEYS = {
    "type",
    "errorCode",
    "errorMessage",
    "timestamp",
    "fallbackActivated",
    "errorDetails",
    "fallback_status",
    "impact_assessment",
    "partialResults",
    "retryInfo",
}


@pytest.mark.parametrize(
    ("fault", "params", "code", "message"),
    [
        ("latency", {"delay": 5}, "CONTEXT7_TIMEOUT", "Context7 API 호출 시간 초과"),
        ("server_error", {"status": 503, "retry_after": 60}, "CONTEXT7_API_FAILURE", "Context7 서비스 일시적 장애"),
        ("rate_limit", {"retry_after": 120}, "CONTEXT7_RATE_LIMITED", "Context7 API 호출 한도 초과"),
        ("unauthorized", {}, "CONTEXT7_UNAUTHORIZED", "Context7 API 인증 실패"),
        ("library_not_found", {}, "CONTEXT7_LIBRARY_NOT_FOUND", "Context7 문서 라이브러리를 찾을 수 없음"),
    ],
)
def test_error_event_data_has_the_seed_002_shape_for_each_failure(c7, fault, params, code, message):
    c7.set_fault(fault, **params)
    outcome = context7_consult("smartphone", "HS code", LOCAL)
    data = context7_error_event_data(outcome.error, {"buttonsGenerated": 1, "confidence_score": 0.6})
    assert set(data) == SEED_ERROR_KEYS
    assert data["type"] == "context7_api_error"
    assert (data["errorCode"], data["errorMessage"]) == (code, message)
    assert data["fallbackActivated"] is True
    assert set(data["errorDetails"]) == {"api_endpoint", "http_status", "retry_after"}
    assert data["errorDetails"]["api_endpoint"] == "get_library_docs"
    assert data["errorDetails"]["http_status"] == outcome.error.http_status
    assert data["fallback_status"] == {
        "activated": True,
        "fallback_type": "pattern_matching",
        "reduced_confidence": True,
    }
    assert set(data["impact_assessment"]) == {"user_experience", "feature_availability", "expected_recovery"}
    assert data["partialResults"] == {"buttonsGenerated": 1, "hscode_detected": None, "confidence_score": 0.6}
    assert set(data["retryInfo"]) == {"retryable", "retryAfter", "maxRetries"}
    assert data["retryInfo"]["retryable"] is outcome.error.retryable
    if "retry_after" in params:
        assert data["errorDetails"]["retry_after"] == data["retryInfo"]["retryAfter"] == params["retry_after"]
    jsonschema = pytest.importorskip("jsonschema")
    from conversations import contracts

    jsonschema.validate(data, contracts.DATA_SCHEMAS[contracts.BUTTONS_ERROR])


# --- the operator command --------------------------------------------------------------
def test_context7_lookup_prints_library_snippets_codes_latency_cache_and_breaker(c7):
    out = io.StringIO()
    call_command("context7_lookup", "--library", "HS Nomenclature", "--query", "smartphone", stdout=out)
    text = out.getvalue()
    assert f"library:   {HS_LIBRARY} (HS Nomenclature 2022" in text
    assert "snippets:  " in text
    assert "8517.13" in text
    assert "latency:   " in text
    assert "cache:     resolve: miss, docs: miss" in text
    assert "breaker:   closed (failures 0)" in text
    again = io.StringIO()
    call_command("context7_lookup", "--library-id", HS_LIBRARY, "--query", "smartphone", stdout=again)
    assert "cache:     docs: hit" in again.getvalue()


def test_context7_lookup_fails_with_the_error_code(c7):
    c7.set_fault("unauthorized")
    out = io.StringIO()
    with pytest.raises(CommandError, match="CONTEXT7_UNAUTHORIZED") as info:
        call_command("context7_lookup", "--library-id", HS_LIBRARY, "--query", "smartphone", "--json", stdout=out)
    assert info.value.returncode == 1
    assert '"code": "CONTEXT7_UNAUTHORIZED"' in out.getvalue()


def test_context7_lookup_exits_non_zero_in_a_real_process(c7, redis_url, redis_prefix):  # noqa: F811
    env = {
        **os.environ,
        "CONTEXT7_API_URL": c7.url,
        "CONTEXT7_REDIS_URL": redis_url,
        "CONTEXT7_REDIS_PREFIX": redis_prefix,
        "CONTEXT7_LIBRARY_ID": "",
        "CONTEXT7_LIBRARY_NAME": "",
        "CONTEXT7_BUDGET_S": "3.0",
    }
    c7.set_fault("library_not_found")
    command = [sys.executable, "manage.py", "context7_lookup", "--library-id", "/nobody/nothing", "--query", "x"]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "CONTEXT7_LIBRARY_NOT_FOUND" in result.stderr
    assert "breaker:" in result.stdout
    ok = subprocess.run(
        [sys.executable, "manage.py", "context7_lookup", "--library-id", HS_LIBRARY, "--query", "laptop"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 1  # the fault is still set
    c7.clear_faults()
    ok = subprocess.run(
        [sys.executable, "manage.py", "context7_lookup", "--library-id", HS_LIBRARY, "--query", "laptop"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stderr
    assert "8471.30" in ok.stdout


def test_a_forked_worker_child_builds_its_own_client(c7):
    parent_client = wiring.get_client()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: must not reuse the parent's client or sockets
        try:
            ok = wiring._client is None and wiring.get_client() is not parent_client
            outcome = context7_consult("smartphone", "HS code", LOCAL)
            os.write(write_end, b"ok" if ok and outcome.error is None else b"bad")
        finally:
            os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    assert os.read(read_end, 10) == b"ok"
    os.close(read_end)
    assert wiring.get_client() is parent_client

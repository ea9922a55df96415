"""/metrics: Prometheus text computed at scrape time from the database and Redis (any process agrees)."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from context7_client import Context7Error
from conversations import contracts
from conversations.models import ChatMessage, Conversation
from hscode.models import AnalysisReview, ReprocessRun
from tests.fakes.fixtures import context7_server, redis_prefix  # noqa: F401
from tests.support.live import frames_until, free_port

pytestmark = pytest.mark.django_db

OPERATOR_TOKEN = "metrics-test-token-0123456789"


@pytest.fixture(autouse=True)
def _operator_token(settings):
    """Tests run with DEBUG off (pytest-django), where /metrics is closed without the operator token."""
    settings.METRICS_TOKEN = OPERATOR_TOKEN


def _scrape(body: str) -> dict[tuple[str, tuple], float]:
    samples = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def _get(client: Client | None = None, **headers) -> dict[tuple[str, tuple], float]:
    headers.setdefault("HTTP_AUTHORIZATION", f"Bearer {OPERATOR_TOKEN}")
    response = (client or Client()).get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return _scrape(response.content.decode())


def _task_metrics(a_ms: int, b_ms: int, c_ms: int) -> dict:
    def task(name, ms):
        return {"name": name, "status": "completed", "duration_ms": ms, "start_time": "2026-11-21T00:00:00.000Z",
                "end_time": "2026-11-21T00:00:01.000Z"}

    return {"task_execution": {"task_a": task("ai_response_generation", a_ms),
                               "task_b": task("detail_page_preparation", b_ms),
                               "task_c": task("chat_history_saving", c_ms)}}


def _analysis(source: str, *, fallback=False, cache_hit=False) -> dict:
    return {"detected_hscode": "8517.13", "classification_confidence": 0.9, "analysis_source": source,
            "resolved": {"code": "851713"}, "fallback_used": fallback, "cache_hit": cache_hit}


def test_metrics_count_messages_latencies_tasks_reviews_and_runs_from_the_database():
    conversation = Conversation.objects.create(owner_session_key="metrics")

    def message(status, analysis=None, ms=None, tasks=None):
        return ChatMessage.objects.create(conversation=conversation, role="user", content="q", status=status,
                                          hscode_analysis=analysis, detail_page_processing_time=ms,
                                          parallel_task_metrics=tasks)

    first = message("completed", _analysis("explicit"), 400, _task_metrics(1500, 400, 20))
    message("completed", _analysis("local", cache_hit=True), 2500, _task_metrics(3000, 2500, 30))
    message("completed", _analysis("context7", fallback=True), 7000)
    message("failed", {**_analysis("local"), "detected_hscode": None, "resolved": None})
    message("pending")
    ChatMessage.objects.create(conversation=conversation, role="assistant", content="a", status="completed",
                               reply_to=first)
    AnalysisReview.objects.create(message=first, verdict="wrong", corrected_hs6="851714", label_hs6="851714")
    ReprocessRun.objects.create(message=first, request_id=uuid.uuid4(), state="done")

    m = _get()

    assert m[("tradechat_messages_total", (("role", "user"), ("status", "completed")))] == 3
    assert m[("tradechat_messages_total", (("role", "user"), ("status", "failed")))] == 1
    assert m[("tradechat_messages_total", (("role", "assistant"), ("status", "completed")))] == 1
    assert m[("tradechat_analyses_total", (("source", "local"),))] == 2
    assert m[("tradechat_analyses_total", (("source", "explicit"),))] == 1
    assert m[("tradechat_analyses_fallback_total", ())] == 1
    assert m[("tradechat_detail_cache_hits_total", ())] == 1
    assert m[("tradechat_detail_cache_hit_ratio", ())] == pytest.approx(0.25)
    # The button latency: 0.4 s, 2.5 s and 7 s.
    latency = "tradechat_detail_page_duration_seconds"
    assert m[(f"{latency}_bucket", (("le", "0.5"),))] == 1
    assert m[(f"{latency}_bucket", (("le", "3.0"),))] == 2
    assert m[(f"{latency}_bucket", (("le", "5.0"),))] == 2
    assert m[(f"{latency}_bucket", (("le", "+Inf"),))] == 3
    assert m[(f"{latency}_count", ())] == 3 and m[(f"{latency}_sum", ())] == pytest.approx(9.9)
    tasks = "tradechat_task_duration_seconds"
    assert m[(f"{tasks}_count", (("task", "ai_response_generation"),))] == 2
    assert m[(f"{tasks}_bucket", (("le", "2.0"), ("task", "ai_response_generation")))] == 1
    assert m[(f"{tasks}_sum", (("task", "chat_history_saving"),))] == pytest.approx(0.05)
    assert m[("tradechat_tasks_total", (("status", "completed"), ("task", "detail_page_preparation")))] == 2
    assert m[("tradechat_reviews_total", (("verdict", "wrong"),))] == 1
    assert m[("tradechat_reviews_total", (("verdict", "correct"),))] == 0
    assert m[("tradechat_reprocess_runs_total", (("state", "done"),))] == 1
    assert m[("tradechat_messages_stuck", ())] == 0
    for section in ("messages", "tasks", "operators", "context7", "queues", "caches"):
        assert m[("tradechat_scrape_section_up", (("section", section),))] == 1, section
    assert ("tradechat_celery_queue_length", (("queue", "bulk"),)) in m


def test_context7_calls_errors_cache_and_breaker_state_come_from_the_shared_redis_counters(
    settings, context7_server, redis_prefix  # noqa: F811
):
    from hscode.context7_consult import get_client

    settings.CONTEXT7_API_URL = context7_server.url
    settings.CONTEXT7_LIBRARY_ID = "/wco/hs-nomenclature-2022"
    settings.CONTEXT7_REDIS_PREFIX = redis_prefix
    settings.CONTEXT7_RETRY_ATTEMPTS = 1
    settings.CONTEXT7_BREAKER_FAIL_MAX = 2
    client = get_client()
    client.get_library_docs("/wco/hs-nomenclature-2022", "smartphone")  # a miss, then cached
    client.get_library_docs("/wco/hs-nomenclature-2022", "smartphone")  # a hit
    before = _get()
    assert before[("tradechat_context7_breaker_state", (("state", "closed"),))] == 1
    assert before[("tradechat_context7_cache_hit_ratio", ())] == pytest.approx(0.5)

    context7_server.set_fault("server_error")
    for query in ("laptop", "tablet", "camera"):  # two failures open the breaker; the third is refused
        with pytest.raises(Context7Error):
            client.get_library_docs("/wco/hs-nomenclature-2022", query)

    m = _get()
    assert m[("tradechat_context7_enabled", ())] == 1
    assert m[("tradechat_context7_http_calls_total", ())] == 3
    assert m[("tradechat_context7_cache_hits_total", ())] == 1
    assert m[("tradechat_context7_cache_misses_total", ())] == 4
    assert m[("tradechat_context7_errors_total", (("code", "CONTEXT7_API_FAILURE"),))] == 2
    assert m[("tradechat_context7_errors_total", (("code", "CONTEXT7_CIRCUIT_OPEN"),))] == 1
    assert m[("tradechat_context7_breaker_state", (("state", "open"),))] == 1
    assert m[("tradechat_context7_breaker_state", (("state", "closed"),))] == 0
    assert m[("tradechat_context7_breaker_failures", ())] == 2


def test_a_section_that_cannot_be_read_is_reported_and_the_rest_still_served(settings):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0"
    m = _get()
    assert m[("tradechat_scrape_section_up", (("section", "queues"),))] == 0
    assert m[("tradechat_scrape_section_up", (("section", "messages"),))] == 1
    assert ("tradechat_messages_stuck", ()) in m


def test_a_configured_token_is_required(settings):
    settings.METRICS_TOKEN = "s3cret-token"
    assert Client().get("/metrics").status_code == 401
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert _get(HTTP_AUTHORIZATION="Bearer s3cret-token")


def test_metrics_are_denied_to_anonymous_callers_when_debug_is_off(settings):
    settings.DEBUG = False
    settings.METRICS_TOKEN = ""  # no token configured: closed, whoever asks
    response = Client().get("/metrics")
    assert response.status_code == 403
    assert b"tradechat_" not in response.content
    settings.METRICS_TOKEN = "s3cret-token"
    assert Client().get("/metrics").status_code == 401


@pytest.mark.integration
@pytest.mark.asyncio
async def test_work_done_in_the_worker_shows_in_a_scrape_of_daphne(chat_client, live):
    """The worker analyses, daphne answers the scrape: both read the same database."""
    conversation_id = chat_client.conversation_create()
    async with chat_client.connect(conversation_id) as ws:
        await ws.send(json.dumps({"type": "chat.message", "message": "8517.13 관세율 알려줘"}))
        await frames_until(ws, {contracts.BUTTONS_COMPLETE, contracts.ANSWER_COMPLETE}, count=2)
    async with httpx.AsyncClient(base_url=live.base_url, timeout=10) as http:
        response = await http.get("/metrics")
    assert response.status_code == 200
    m = _scrape(response.text)
    assert m[("tradechat_messages_total", (("role", "user"), ("status", "completed")))] >= 1
    assert m[("tradechat_analyses_total", (("source", "explicit"),))] >= 1
    assert m[("tradechat_detail_page_duration_seconds_count", ())] >= 1
    assert m[("tradechat_task_duration_seconds_count", (("task", "detail_page_preparation"),))] >= 1
    assert all(v == 1 for (name, _), v in m.items() if name == "tradechat_scrape_section_up")


def test_hits_and_misses_of_each_cache_are_counters_labelled_by_cache():
    from hscode.cache import CODE_BUTTONS, QUESTION, cache_count

    def counts(m, name):
        return m[("tradechat_cache_hits_total", (("cache", name),))], m[("tradechat_cache_misses_total",
                                                                         (("cache", name),))]

    before = _get()
    for hit in (True, True, True, False):
        cache_count(CODE_BUTTONS, hit=hit)
    cache_count(QUESTION, hit=False)
    m = _get()
    code_hits, code_misses = counts(before, CODE_BUTTONS)
    assert counts(m, CODE_BUTTONS) == (code_hits + 3, code_misses + 1)
    question_hits, question_misses = counts(before, QUESTION)
    assert counts(m, QUESTION) == (question_hits, question_misses + 1)
    ratio = (code_hits + 3) / (code_hits + code_misses + 4)
    assert m[("tradechat_cache_hit_ratio", (("cache", CODE_BUTTONS),))] == pytest.approx(ratio)
    assert ("tradechat_cache_hits_total", (("cache", "context7"),)) in m
    assert m[("tradechat_scrape_section_up", (("section", "caches"),))] == 1

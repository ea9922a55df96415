"""Reprocessing from manage.py: selection, dry run, sync and queued runs, idempotency, reviews and their export."""

from __future__ import annotations

import asyncio
import io
import json
import time
import uuid
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.core.management import CommandError, call_command
from django.utils import timezone

from conversations import contracts
from conversations.models import ChatMessage, Conversation, ConversationEvent
from hscode.models import AnalysisReview, ClassificationCase, ReprocessRun
from hscode.pipeline import message_process
from hscode.reprocessing import OperatorError, messages_select, reprocess_run, review_record
from hscode.selectors import SHIPPED_SOURCES
from tests.support.live import frames_until

BOTTLE_OPENER = "스테인리스 병따개 HS 코드"  # the classifier says 8205.51 (hand tools)
DONE = {contracts.BUTTONS_COMPLETE, contracts.BUTTONS_ERROR, contracts.ANSWER_COMPLETE}
BUTTON_EVENTS = [contracts.BUTTONS_START, *[contracts.BUTTON_READY] * 3, contracts.BUTTONS_COMPLETE]


def _command(*args: str) -> str:
    out = io.StringIO()
    call_command("reprocess_messages", *args, "--no-progress", stdout=out, stderr=io.StringIO())
    return out.getvalue()


def _analysis(code: str | None, *, source: str = "local", confidence: float = 0.75, fallback: bool = False) -> dict:
    digits = "".join(ch for ch in code or "" if ch.isdigit())
    return {
        "detected_hscode": code,
        "classification_confidence": confidence,
        "analysis_source": source,
        "resolved": {"code": digits, "display": code} if code else None,
        "fallback_used": fallback,
        "cache_hit": False,
        "language": "ko",
        "detail_buttons": [],
    }


def _message(conversation: Conversation, text: str, **fields) -> ChatMessage:
    return ChatMessage.objects.create(conversation=conversation, role=ChatMessage.Role.USER, content=text, **fields)


def _analysed(conversation: Conversation, text: str) -> ChatMessage:
    """A message taken through the orchestrator inline, exactly as the workers do."""
    message = _message(conversation, text)
    message_process(message.pk)
    message.refresh_from_db()
    return message


@pytest.fixture
def conversation(db):
    return Conversation.objects.create(owner_session_key="ops-test-session")


@pytest.fixture
def no_detail_cache(settings):
    settings.DETAIL_CACHE_TTL_S = 0


# --- selection and dry run ----------------------------------------------------------


@pytest.mark.django_db
def test_each_criterion_narrows_the_selection_to_matching_user_messages(conversation):
    other = Conversation.objects.create(owner_session_key="other-session")
    phone = _message(conversation, "8517.13 관세율", status="completed",
                     hscode_analysis=_analysis("8517.13", source="explicit", confidence=1.0))
    pork = _message(conversation, "냉동 삼겹살", status="failed", hscode_analysis=_analysis(None, confidence=0.2))
    opener = _message(other, BOTTLE_OPENER, status="completed",
                      hscode_analysis=_analysis("8205.51", source="context7", confidence=0.62, fallback=True))
    ChatMessage.objects.create(conversation=conversation, role="assistant", content="answer", reply_to=phone,
                               status="completed", hscode_analysis=_analysis("8517.13"))
    old = timezone.now() - timedelta(days=10)
    ChatMessage.objects.filter(pk=pork.pk).update(created_at=old)

    def ids(**criteria) -> list[int]:
        return list(messages_select(**criteria).values_list("pk", flat=True))

    assert ids() == [phone.pk, pork.pk, opener.pk]  # the assistant's answer is never selected
    assert ids(ids=[phone.pk, opener.pk]) == [phone.pk, opener.pk]
    assert ids(conversation=conversation.pk) == [phone.pk, pork.pk]
    assert ids(since=old + timedelta(days=1)) == [phone.pk, opener.pk]
    assert ids(until=old + timedelta(days=1)) == [pork.pk]
    assert ids(statuses=["failed"]) == [pork.pk]
    assert ids(hscode="8517") == ids(hscode="8517.13") == ids(hscode="851713") == [phone.pk]
    assert ids(hscode="82") == [opener.pk]
    assert ids(source="explicit") == [phone.pk]
    assert ids(source="context7") == [opener.pk]
    assert ids(below_confidence=0.7) == [pork.pk, opener.pk]
    assert ids(below_confidence=0.7, conversation=conversation.pk) == [pork.pk]
    assert ids(fallback_used=True) == [opener.pk]
    with pytest.raises(OperatorError):
        ids(source="guess")


@pytest.mark.django_db
def test_dry_run_lists_what_would_run_and_changes_nothing(conversation):
    phone = _message(conversation, "8517.13 관세율", status="completed",
                     hscode_analysis=_analysis("8517.13", source="explicit", confidence=1.0))
    _message(conversation, BOTTLE_OPENER, status="completed", hscode_analysis=_analysis("8205.51"))
    before = ChatMessage.objects.get(pk=phone.pk).hscode_analysis

    out = _command("--source", "explicit", "--dry-run")

    assert f"#{phone.pk}" in out and "8517.13" in out and "1.00" in out and "explicit" in out
    assert "would reprocess 1 message(s) on the 'bulk' queue" in out
    assert "would reprocess 0 message(s)" in _command("--fallback-used", "--dry-run")
    assert ReprocessRun.objects.count() == 0
    assert ChatMessage.objects.get(pk=phone.pk).hscode_analysis == before


@pytest.mark.django_db
def test_the_command_refuses_to_run_without_a_selection_or_with_a_bad_one(conversation):
    with pytest.raises(CommandError, match="choose messages"):
        _command()
    with pytest.raises(CommandError, match="UUID"):
        _command("--conversation", "not-a-uuid")
    with pytest.raises(CommandError, match="date"):
        _command("--since", "last tuesday")
    assert "no message matches" in _command("--all")


def _queue(name: str, *args) -> str:
    from config.celery import app

    return app.amqp.router.route({}, name, args=args)["queue"].name


def test_reprocess_tasks_are_routed_to_the_bulk_queue():
    assert _queue("hscode.tasks.reprocess_message", 1, str(uuid.uuid4())) == "bulk"


def test_people_s_tasks_go_to_io_only_while_they_wait_on_the_network(settings):
    # People's messages never wait behind bulk work: what waits on the network goes to "io", the rest to "chat".
    settings.CONTEXT7_LIBRARY_ID = "/wco/hs-nomenclature-2022"
    settings.LLM_BACKEND, settings.LLM_BASE_URL = "openai", "http://127.0.0.1:9/v1"
    assert _queue("hscode.tasks.detail_page_prepare", 1) == "io"
    assert _queue("chat.tasks.answer_generate", 1) == "io"
    assert _queue("hscode.tasks.detail_button_build", 1, "HS_CODE") == "chat"

    # Context7 off and a grounded answer: the same tasks are pure CPU and run on the prefork processes.
    settings.CONTEXT7_LIBRARY_ID = settings.CONTEXT7_LIBRARY_NAME = ""
    settings.LLM_BACKEND = "grounded"
    assert _queue("hscode.tasks.detail_page_prepare", 1) == "chat"
    assert _queue("chat.tasks.answer_generate", 1) == "chat"


# --- inline runs ------------------------------------------------------------------


@pytest.mark.django_db
def test_sync_reprocess_keeps_the_previous_analysis_and_stores_the_new_one(conversation, no_detail_cache):
    message = _analysed(conversation, BOTTLE_OPENER)
    assert message.hscode_analysis["detected_hscode"] == "8205.51"
    first_events = ConversationEvent.objects.filter(message=message).count()
    review_record(message=message, reviewer=None, verdict="wrong", corrected_hs6="8210.00", note="a hand tool")

    out = _command("--ids", str(message.pk), "--sync")

    message.refresh_from_db()
    run = ReprocessRun.objects.get(message=message)
    assert message.status == ChatMessage.Status.COMPLETED
    assert message.hscode_analysis["detected_hscode"] == "8210.00"
    assert message.hscode_analysis["reprocess"]["previous_hscode"] == "8205.51"
    assert message.hscode_analysis["reprocess"]["request_id"] == str(run.request_id)
    assert run.state == ReprocessRun.State.DONE and run.code_changed and run.attempts == 1
    assert run.previous["hscode_analysis"]["detected_hscode"] == "8205.51"
    assert run.previous["status"] == "completed"
    assert (run.previous_hscode, run.new_hscode) == ("8205.51", "8210.00")
    # The reprocessed message reports its own run, not the time since it was first sent.
    assert message.detail_page_processing_time < 60_000
    new_events = list(ConversationEvent.objects.filter(message=message).order_by("seq")[first_events:])
    assert [e.event for e in new_events] == BUTTON_EVENTS
    assert "code changed 1" in out and f"changed #{message.pk}: 8205.51 -> 8210.00" in out and "errors: 0" in out


@pytest.mark.django_db
def test_a_repeated_or_redelivered_request_runs_nothing_twice(conversation, no_detail_cache):
    message = _analysed(conversation, "8517.13 관세율 알려줘")
    request_id = str(uuid.uuid4())
    _command("--ids", str(message.pk), "--sync", "--request-id", request_id)
    events = ConversationEvent.objects.filter(message=message).count()
    analysis = ChatMessage.objects.get(pk=message.pk).hscode_analysis

    again = _command("--ids", str(message.pk), "--sync", "--request-id", request_id)
    run = reprocess_run(message.pk, request_id)  # a redelivered task

    assert "already done under this request" in again
    assert run.state == ReprocessRun.State.DONE and run.attempts == 2
    assert ConversationEvent.objects.filter(message=message).count() == events
    assert ChatMessage.objects.get(pk=message.pk).hscode_analysis == analysis
    assert ReprocessRun.objects.filter(message=message).count() == 1
    # A new request is a deliberate rerun: it runs.
    _command("--ids", str(message.pk), "--sync")
    assert ReprocessRun.objects.filter(message=message, state="done").count() == 2
    assert ConversationEvent.objects.filter(message=message).count() == events + len(BUTTON_EVENTS)


@pytest.mark.django_db
def test_a_message_still_in_flight_is_skipped_not_reset(conversation):
    busy = _message(conversation, BOTTLE_OPENER, status=ChatMessage.Status.ANALYSING,
                    hscode_analysis=_analysis("8205.51"))

    out = _command("--ids", str(busy.pk), "--sync")

    run = ReprocessRun.objects.get(message=busy)
    assert run.state == ReprocessRun.State.SKIPPED and "in flight" in run.error
    assert ChatMessage.objects.get(pk=busy.pk).hscode_analysis == _analysis("8205.51")
    assert "skipped 1" in out and "errors: 0" in out


@pytest.mark.django_db
def test_a_message_stuck_past_the_stale_window_is_reprocessed(conversation, settings, no_detail_cache):
    settings.REPROCESS_STALE_AFTER_S = 60
    stuck = _message(conversation, "8517.13 관세율", status=ChatMessage.Status.ANALYSING)
    ChatMessage.objects.filter(pk=stuck.pk).update(updated_at=timezone.now() - timedelta(minutes=5))

    _command("--ids", str(stuck.pk), "--sync")

    stuck.refresh_from_db()
    assert stuck.status == ChatMessage.Status.COMPLETED
    assert stuck.hscode_analysis["detected_hscode"] == "8517.13"
    assert ReprocessRun.objects.get(message=stuck).previous_status == "analysing"


# --- reviews ----------------------------------------------------------------------


@pytest.mark.django_db
def test_reviews_validate_codes_against_hs_2022_and_feed_one_review_case_per_text(conversation,
                                                                                   django_user_model):
    staff = django_user_model.objects.create_user("reviewer", is_staff=True)
    message = _message(conversation, BOTTLE_OPENER, status="completed",
                       hscode_analysis=_analysis("8205.51"))
    nothing = _message(conversation, "이거 뭐야", status="failed", hscode_analysis=_analysis(None, confidence=0.1))

    with pytest.raises(OperatorError, match="chapter 99"):
        review_record(message=message, reviewer=staff, verdict="wrong", corrected_hs6="9999.99")
    with pytest.raises(OperatorError, match=r"did you mean 8517\.79"):
        review_record(message=message, reviewer=staff, verdict="wrong", corrected_hs6="8517.99")
    with pytest.raises(OperatorError, match="6-digit"):
        review_record(message=message, reviewer=staff, verdict="wrong", corrected_hs6="")
    with pytest.raises(OperatorError, match="no code was detected"):
        review_record(message=nothing, reviewer=staff, verdict="correct")
    assert AnalysisReview.objects.count() == 0

    correct = review_record(message=message, reviewer=staff, verdict="correct", note="ok")
    assert (correct.label_hs6, correct.reviewer, correct.detected_hscode) == ("820551", staff, "8205.51")
    assert list(added_cases().values_list("hs6", "source")) == [("820551", "review")]

    wrong = review_record(message=message, reviewer=staff, verdict="wrong", corrected_hs6="8210.00")
    assert (wrong.corrected_hs6, wrong.label_hs6) == ("821000", "821000")
    # The newer review replaces the earlier review label of the same text.
    assert list(added_cases().values_list("hs6", "source", "lang")) == [("821000", "review", "ko")]


@pytest.mark.django_db
def test_export_reviews_writes_jsonl_that_evaluate_classifier_reads(conversation, tmp_path):
    phone = _message(conversation, "아이폰 15 프로의 HS Code가 뭐야?", status="completed",
                     hscode_analysis=_analysis("8517.13"))
    opener = _message(conversation, BOTTLE_OPENER, status="completed", hscode_analysis=_analysis("8205.51"))
    heading = _message(conversation, "HS 8517 규제", status="completed",
                       hscode_analysis={**_analysis("8517"), "resolved": {"code": "8517"}})
    unreviewed = _message(conversation, "냉동 삼겹살", status="failed", hscode_analysis=_analysis(None))
    review_record(message=phone, reviewer=None, verdict="correct")
    review_record(message=opener, reviewer=None, verdict="correct")
    review_record(message=opener, reviewer=None, verdict="wrong", corrected_hs6="821000")
    review_record(message=heading, reviewer=None, verdict="correct")  # a heading: no 6-digit label
    path = tmp_path / "reviews.jsonl"

    out = io.StringIO()
    call_command("export_reviews", str(path), stdout=out)

    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert rows == [
        {"text": "아이폰 15 프로의 HS Code가 뭐야?", "hs6": "851713", "lang": "ko"},
        {"text": BOTTLE_OPENER, "hs6": "821000", "lang": "ko"},
    ]
    assert unreviewed.content not in path.read_text(encoding="utf-8")
    assert "wrote 2 reviewed message(s)" in out.getvalue()
    # the reviews are cases of the index now: scoring them against it is refused, without it they can be scored
    with pytest.raises(CommandError, match="2 of 2 rows are in the case index"):
        call_command("evaluate_classifier", str(path), "--json", stdout=io.StringIO())
    report = io.StringIO()
    call_command("evaluate_classifier", str(path), "--json", "--no-cases", stdout=report)
    metrics = json.loads(report.getvalue().strip().splitlines()[-1])
    assert metrics["n"] == 2 and metrics["by_lang"]["ko"]["n"] == 2
    assert "[ko] n=2" in report.getvalue()


# --- through the live stack: a connected client sees the new buttons --------------------


async def _send_and_finish(ws, text: str) -> list[dict]:
    await ws.send(json.dumps({"type": "chat.message", "message": text}))
    return await frames_until(ws, DONE, count=2)


@pytest.mark.integration
@pytest.mark.asyncio
async def test_a_review_then_sync_reprocess_pushes_the_corrected_buttons_to_a_connected_client(chat_client):
    conversation_id = chat_client.conversation_create()
    async with chat_client.connect(conversation_id) as ws:
        frames = await _send_and_finish(ws, BOTTLE_OPENER)
        message_id = frames[0]["message_id"]
        complete = next(f for f in frames if f["event"] == contracts.BUTTONS_COMPLETE)
        assert complete["data"]["summary"]["hscode_detected"] == "8205.51"

        message = await database_sync_to_async(ChatMessage.objects.get)(pk=message_id)
        await database_sync_to_async(review_record)(message=message, reviewer=None, verdict="wrong",
                                                    corrected_hs6="8210.00")
        out = await database_sync_to_async(_command)("--ids", str(message_id), "--sync")
        pushed = await frames_until(ws, {contracts.BUTTONS_COMPLETE})

    assert [f["event"] for f in pushed] == BUTTON_EVENTS
    assert all(f["message_id"] == message_id for f in pushed)
    assert [f["seq"] for f in pushed] == list(range(pushed[0]["seq"], pushed[0]["seq"] + len(pushed)))
    buttons = {f["data"]["buttonType"]: f["data"] for f in pushed if f["event"] == contracts.BUTTON_READY}
    assert set(buttons) == set(contracts.BUTTON_TYPES)
    assert buttons["HS_CODE"]["metadata"]["hscode"] == "8210.00"
    assert pushed[-1]["data"]["summary"]["hscode_detected"] == "8210.00"
    assert "code changed 1" in out and "8205.51 -> 8210.00" in out


@pytest.mark.integration
@pytest.mark.asyncio
async def test_queued_reprocess_runs_in_the_live_worker_and_a_redelivery_emits_nothing(chat_client, live):
    conversation_id = chat_client.conversation_create()
    request_id = str(uuid.uuid4())
    async with chat_client.connect(conversation_id) as ws:
        frames = await _send_and_finish(ws, "8517.13 관세율 알려줘")
        message_id = frames[0]["message_id"]

        out = await database_sync_to_async(_command)(
            "--conversation", conversation_id, "--request-id", request_id, "--wait", "--timeout", "60"
        )
        pushed = await frames_until(ws, {contracts.BUTTONS_COMPLETE})
        assert [f["event"] for f in pushed] == BUTTON_EVENTS

        events = await database_sync_to_async(ConversationEvent.objects.filter(message_id=message_id).count)()
        live.celery.send_task("hscode.tasks.reprocess_message", args=[message_id, request_id], queue="bulk")
        deadline = time.monotonic() + 30
        while (await database_sync_to_async(ReprocessRun.objects.get)(request_id=request_id)).attempts < 2:
            assert time.monotonic() < deadline, "the redelivered task never ran"
            await asyncio.sleep(0.2)
        with pytest.raises(TimeoutError):  # nothing new reaches the client
            await asyncio.wait_for(ws.recv(), 1.0)

    assert "queued 1 on the 'bulk' queue" in out
    assert "done 1 (code changed 0, unchanged 1)" in out and "errors: 0" in out
    run = await database_sync_to_async(ReprocessRun.objects.get)(request_id=request_id)
    assert run.state == ReprocessRun.State.DONE and run.requested_via == "command"
    assert await database_sync_to_async(ConversationEvent.objects.filter(message_id=message_id).count)() == events


def added_cases():
    """Cases beyond the shipped KCS corpora (which the test database holds, as on first start)."""
    return ClassificationCase.objects.exclude(source__in=SHIPPED_SOURCES)

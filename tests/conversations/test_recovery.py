"""Recovery with an end: lost steps are enqueued again, waiting ones are left in their queue, and a step that
keeps failing is given up after CHAT_STEP_MAX_ATTEMPTS with an error event instead of a spinner."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import timedelta

import jsonschema
import pytest
import redis
from channels.db import database_sync_to_async
from django.db import connection
from django.utils import timezone

from chat.services import conversation_create, message_create
from config.celery import app as celery_app
from conversations import contracts
from conversations.models import ChatMessage, Conversation, ConversationEvent, MessageStep
from conversations.recovery import messages_recover_stale
from conversations.selectors import Owner
from tests.conftest import redis_url_with_db

QUIET_BROKER_DB = 12


@pytest.fixture
def quiet_broker(settings, redis_url):
    """An empty broker database for the queue-length check (tasks themselves still go to the test broker)."""
    url = redis_url_with_db(redis_url, QUIET_BROKER_DB)
    client = redis.Redis.from_url(url)
    client.flushdb()
    # Celery binds its producer pool to the broker URL at first use: bind it now, so tasks published here keep
    # going to the test broker (where the live worker listens) while the check reads the quiet one.
    assert celery_app.amqp.producer_pool is not None
    settings.CELERY_BROKER_URL = url
    yield client
    client.flushdb()
    client.close()


def _stale_message(conversation: Conversation, text: str) -> ChatMessage:
    message = message_create(conversation=conversation, text=text)
    old = timezone.now() - timedelta(minutes=5)
    ChatMessage.objects.filter(pk=message.pk).update(created_at=old, updated_at=old)
    return message


@pytest.mark.django_db
def test_lost_steps_are_enqueued_again_and_counted(settings, quiet_broker):
    conversation = conversation_create(owner=Owner(user_id=None, session_key="r" * 32))
    message = _stale_message(conversation, "HS 8517")
    counts = messages_recover_stale(older_than_s=60)
    assert counts == {"buttons": 1, "answers": 1, "histories": 1, "given_up": 0, "waiting": 0}
    steps = {s.step: s.attempts for s in MessageStep.objects.filter(message=message)}
    assert steps == {"buttons": 2, "answer": 2, "history": 2}
    # Enqueued just now: not again within the quiet period.
    assert messages_recover_stale(older_than_s=60)["buttons"] == 0


@pytest.mark.django_db
def test_queued_but_waiting_work_is_not_requeued(settings, quiet_broker):
    conversation = conversation_create(owner=Owner(user_id=None, session_key="w" * 32))
    message = _stale_message(conversation, "HS 8517")
    quiet_broker.lpush("chat", b"a task ahead in the backlog")
    counts = messages_recover_stale(older_than_s=60)
    assert counts == {"buttons": 0, "answers": 0, "histories": 0, "given_up": 0, "waiting": 3}
    assert set(MessageStep.objects.filter(message=message).values_list("attempts", flat=True)) == {1}
    quiet_broker.delete("chat")  # the backlog drained and the steps never started: their tasks were lost
    assert messages_recover_stale(older_than_s=60)["buttons"] == 1


@pytest.mark.django_db
def test_a_step_out_of_attempts_ends_in_error_events_not_a_spinner(settings, quiet_broker):
    settings.CHAT_STEP_MAX_ATTEMPTS = 2
    conversation = conversation_create(owner=Owner(user_id=None, session_key="g" * 32))
    message = _stale_message(conversation, "HS 8517")
    long_ago = timezone.now() - timedelta(minutes=4)
    for step in ("buttons", "answer", "history"):  # enqueued twice, started, then silent
        MessageStep.objects.create(message=message, step=step, attempts=2, queued_at=long_ago, claimed_at=long_ago)
    counts = messages_recover_stale(older_than_s=60)
    assert counts["given_up"] == 3 and counts["buttons"] == counts["answers"] == counts["histories"] == 0
    message.refresh_from_db()
    assert message.status == ChatMessage.Status.FAILED
    assert message.answer.status == ChatMessage.Status.FAILED
    assert message.parallel_task_metrics["task_execution"]["task_c"]["status"] == "failed"
    events = {e.event: e.data for e in ConversationEvent.objects.filter(message=message)}
    error = events[contracts.BUTTONS_ERROR]
    jsonschema.validate(error, contracts.DATA_SCHEMAS[contracts.BUTTONS_ERROR])
    assert error["errorCode"] == "PROCESSING_FAILED" and error["fallbackActivated"] is False
    assert error["retryInfo"] == {"retryable": False, "retryAfter": 0, "maxRetries": 2}
    answer = events[contracts.ANSWER_COMPLETE]
    jsonschema.validate(answer, contracts.DATA_SCHEMAS[contracts.ANSWER_COMPLETE])
    assert answer["error"]["code"] == "ANSWER_FAILED" and answer["content"] == answer["error"]["message"]
    # Given up once: the next sweep finds nothing and emits nothing.
    before = ConversationEvent.objects.count()
    assert messages_recover_stale(older_than_s=60) == {"buttons": 0, "answers": 0, "histories": 0, "given_up": 0,
                                                       "waiting": 0}
    assert ConversationEvent.objects.count() == before


def _refuse_events_of_marked_messages(marker: str) -> str:
    """A database trigger that makes the buttons and answer steps of messages containing `marker` fail on every
    attempt (their first event is refused: an error no retry policy covers). Returns the SQL that removes it."""
    condition = (f"NEW.event IN ('{contracts.BUTTONS_START}', '{contracts.ANSWER_DELTA}') AND EXISTS (SELECT 1 "
                 f"FROM chat_messages m WHERE m.id = NEW.message_id AND m.content LIKE '%{marker}%')")
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"CREATE FUNCTION refuse_marked() RETURNS trigger AS $$ BEGIN IF {condition} THEN "
                           "RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql")
            cursor.execute("CREATE TRIGGER refuse_marked BEFORE INSERT ON chat_conversationevent "
                           "FOR EACH ROW EXECUTE FUNCTION refuse_marked()")
            return "DROP TRIGGER refuse_marked ON chat_conversationevent; DROP FUNCTION refuse_marked()"
        cursor.execute(f"CREATE TRIGGER refuse_marked BEFORE INSERT ON chat_conversationevent WHEN {condition} "
                       "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END")
        return "DROP TRIGGER refuse_marked"


@pytest.mark.integration
@pytest.mark.asyncio
async def test_a_step_that_always_fails_ends_in_an_error_event_after_n_attempts(chat_client, live, settings):
    settings.CHAT_STEP_MAX_ATTEMPTS = 3
    settings.LLM_TIMEOUT_S = 0  # the answer's quiet period is the sweep's own here (3 s)
    marker = f"always-fails-{uuid.uuid4().hex[:8]}"
    drop = await database_sync_to_async(_refuse_events_of_marked_messages)(marker)
    try:
        conversation_id = chat_client.conversation_create()
        async with chat_client.connect(conversation_id) as ws:
            await ws.send(json.dumps({"type": "chat.message", "message": f"HS 8517 {marker}"}))
            frames: list[dict] = []
            ended: set[str] = set()
            deadline = time.monotonic() + 180
            while ended != {"buttons", "answer"} and time.monotonic() < deadline:
                # What the beat schedule does every RECOVERY_INTERVAL_S, here every second.
                await database_sync_to_async(messages_recover_stale)(older_than_s=3)
                try:
                    async with asyncio.timeout(1.0):
                        while True:
                            frame = json.loads(await ws.recv())
                            frames.append(frame)
                            if frame["event"] == contracts.BUTTONS_ERROR:
                                ended.add("buttons")
                            if frame["event"] == contracts.ANSWER_COMPLETE:
                                ended.add("answer")
                except TimeoutError:
                    pass
        assert ended == {"buttons", "answer"}, [f["event"] for f in frames]
        events = [f["event"] for f in frames]
        assert contracts.BUTTONS_START not in events and contracts.ANSWER_DELTA not in events
        error = next(f["data"] for f in frames if f["event"] == contracts.BUTTONS_ERROR)
        assert error["errorCode"] == "PROCESSING_FAILED" and error["retryInfo"]["maxRetries"] == 3
        answer = next(f["data"] for f in frames if f["event"] == contracts.ANSWER_COMPLETE)
        assert answer["error"]["code"] == "ANSWER_FAILED"

        def given_up() -> dict[str, MessageStep]:
            rows = MessageStep.objects.filter(message__content__contains=marker)
            return {row.step: row for row in rows if row.failed_at is not None}

        steps = await database_sync_to_async(given_up)()
        # The history is recorded in the transaction that announces the buttons (hscode/pipeline.py), so it fails
        # with them and is given up with them.
        assert {step: row.attempts for step, row in steps.items()} == {"buttons": 3, "answer": 3, "history": 3}
        for row in steps.values():  # the worker really started the last attempt (and it failed)
            assert row.claimed_at is not None and row.queued_at <= row.claimed_at <= row.failed_at
    finally:
        def remove() -> None:
            with connection.cursor() as cursor:
                for statement in drop.split("; "):
                    cursor.execute(statement)

        await database_sync_to_async(remove)()


@pytest.fixture
def unreachable_broker_stack(live_stack, tmp_path_factory):
    """A daphne whose Celery broker is unreachable (Redis for the layer and caches still works)."""
    from tests.conftest import side_stack
    from tests.support.live import free_port

    with side_stack(tmp_path_factory, "no-broker", 8, workers=0,
                    CELERY_BROKER_URL=f"redis://127.0.0.1:{free_port()}/0") as stack:
        yield stack


@pytest.mark.integration
@pytest.mark.asyncio
async def test_a_publish_failure_after_commit_is_logged_and_recovered_without_a_resend(unreachable_broker_stack,
                                                                                      live, transactional_db):
    from tests.support.live import ChatClient

    client = await asyncio.to_thread(ChatClient, unreachable_broker_stack.base_url)
    conversation_id = await asyncio.to_thread(client.conversation_create)
    async with client.connect(conversation_id) as ws:
        await ws.send(json.dumps({"type": "chat.message", "message": "HS 8517 수입"}))
        frames = [json.loads(await asyncio.wait_for(ws.recv(), 20)) for _ in range(2)]
        assert [f["event"] for f in frames] == [contracts.MESSAGE_CREATED, contracts.THINKING]
        with pytest.raises(TimeoutError):  # no "try again" error frame follows
            async with asyncio.timeout(5):
                extra = json.loads(await ws.recv())
                pytest.fail(f"unexpected frame {extra}")
        port = unreachable_broker_stack.port
        log = (unreachable_broker_stack.log_dir / f"daphne-{port}.log").read_text()
        assert "failed after commit; the recovery sweeper will enqueue it again" in log
        # The sweeper (run here on the test broker, where the live worker listens) enqueues the three steps.
        done: set[str] = set()
        deadline = time.monotonic() + 90
        while done != {contracts.BUTTONS_COMPLETE, contracts.ANSWER_COMPLETE} and time.monotonic() < deadline:
            await database_sync_to_async(messages_recover_stale)(older_than_s=3)
            try:
                async with asyncio.timeout(2.0):
                    while True:
                        frame = json.loads(await ws.recv())
                        frames.append(frame)
                        if frame["event"] in (contracts.BUTTONS_COMPLETE, contracts.ANSWER_COMPLETE):
                            done.add(frame["event"])
            except TimeoutError:
                pass
    assert done == {contracts.BUTTONS_COMPLETE, contracts.ANSWER_COMPLETE}, [(f["event"], f["data"])
                                                                             for f in frames[2:]]
    count = database_sync_to_async(ChatMessage.objects.filter(conversation_id=conversation_id, role="user").count)
    assert await count() == 1
    assert contracts.ERROR not in {f["event"] for f in frames}
    client.close()

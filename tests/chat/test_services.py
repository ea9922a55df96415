"""Chat services: message rules, event seq allocation, log retention, stop requests."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from chat import contracts
from chat.answering import _stop_key, answer_stop_request
from chat.events import event_emit
from chat.models import ChatMessage, Conversation, ConversationEvent
from chat.protocol import FrameError, frame_parse
from chat.selectors import Owner, conversation_snapshot
from chat.services import OwnerRequired, conversation_create, event_log_prune, message_create
from config.celery import app as celery_app

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation() -> Conversation:
    return conversation_create(owner=Owner(user_id=None, session_key="s" * 32))


def test_seq_is_per_conversation_and_gap_free(conversation):
    other = conversation_create(owner=Owner(user_id=None, session_key="t" * 32))
    seqs = [event_emit(conversation_id=conversation.pk, message_id=None, event=contracts.THINKING, data={})
            for _ in range(3)]
    assert seqs == [1, 2, 3]
    assert event_emit(conversation_id=other.pk, message_id=None, event=contracts.THINKING, data={}) == 1


def test_message_create_saves_and_logs_created_then_thinking(conversation):
    message = message_create(conversation=conversation, text="  8517.13 관세율  ")
    assert message.content == "8517.13 관세율"
    events = list(ConversationEvent.objects.filter(conversation=conversation).values_list("event", flat=True))
    assert events == [contracts.MESSAGE_CREATED, contracts.THINKING]


def test_rejected_text_saves_nothing(conversation):
    with pytest.raises(FrameError):
        message_create(conversation=conversation, text="x" * 2001)
    assert not ChatMessage.objects.exists() and not ConversationEvent.objects.exists()


def test_a_conversation_needs_an_owner():
    with pytest.raises(OwnerRequired):
        conversation_create(owner=Owner(user_id=None, session_key=""))


def test_prune_removes_only_events_past_retention(conversation):
    event_emit(conversation_id=conversation.pk, message_id=None, event=contracts.THINKING, data={})
    event_emit(conversation_id=conversation.pk, message_id=None, event=contracts.THINKING, data={})
    ConversationEvent.objects.filter(seq=1).update(created_at=timezone.now() - timedelta(days=8))
    assert event_log_prune(older_than_days=7) == 1
    assert list(ConversationEvent.objects.values_list("seq", flat=True)) == [2]


def test_prune_by_default_keeps_event_log_retention_days_and_beat_runs_it(conversation, settings):
    settings.EVENT_LOG_RETENTION_DAYS = 3
    for _ in range(3):
        event_emit(conversation_id=conversation.pk, message_id=None, event=contracts.THINKING, data={})
    ConversationEvent.objects.filter(seq=1).update(created_at=timezone.now() - timedelta(days=4))
    ConversationEvent.objects.filter(seq=2).update(created_at=timezone.now() - timedelta(days=2))
    assert event_log_prune() == 1  # the setting, not a hard-coded week
    assert list(ConversationEvent.objects.values_list("seq", flat=True)) == [2, 3]
    schedule = {entry["task"]: entry for entry in celery_app.conf.beat_schedule.values()}
    assert "chat.tasks.event_log_prune" in schedule  # beat runs it on its own
    ConversationEvent.objects.update(created_at=timezone.now() - timedelta(days=5))
    celery_app.loader.import_default_modules()  # as a worker does at start: the task modules are discovered
    assert celery_app.tasks["chat.tasks.event_log_prune"]() == 2


def test_snapshot_lists_unfinished_messages_with_their_state(conversation):
    message = message_create(conversation=conversation, text="HS 8517")
    snapshot, head = conversation_snapshot(conversation.pk)
    assert head == 2
    assert [m["message_id"] for m in snapshot["messages"]] == [message.pk]
    assert snapshot["messages"][0]["answer"] is None


def test_stop_request_marks_unfinished_answers(conversation):
    message = message_create(conversation=conversation, text="HS 8517")
    assert answer_stop_request(conversation.pk) == [message.pk]
    assert cache.get(_stop_key(conversation.pk, message.pk)) == 1
    cache.delete(_stop_key(conversation.pk, message.pk))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"type": "chat.stop"}', ("chat.stop", None, 0)),
        ('{"type": "chat.stop", "message_id": 7}', ("chat.stop", 7, 0)),
        ('{"type": "resync", "after": 12}', ("resync", None, 12)),
        ('{"type": "resync"}', ("resync", None, 0)),
    ],
)
def test_stop_and_resync_frames_parse(raw, expected):
    frame = frame_parse(raw)
    assert (frame.type, frame.message_id, frame.after) == expected


@pytest.mark.parametrize("raw", ['{"type": "resync", "after": -1}', '{"type": "resync", "after": "1"}',
                                 '{"type": "chat.stop", "message_id": true}'])
def test_bad_stop_and_resync_frames_are_refused(raw):
    with pytest.raises(FrameError):
        frame_parse(raw)


def test_stale_messages_are_found_for_every_missing_step(conversation, settings, redis_url):
    import redis

    from chat.recovery import messages_recover_stale
    from config.celery import app
    from tests.conftest import redis_url_with_db

    settings.CELERY_TASK_ALWAYS_EAGER = False
    # The queue-length check reads an empty broker database: nothing waits, so the never-started steps were lost.
    # Celery binds its producer pool to the broker URL at first use: bind it to the test broker now.
    assert app.amqp.producer_pool is not None
    settings.CELERY_BROKER_URL = redis_url_with_db(redis_url, 13)
    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
    stale = message_create(conversation=conversation, text="HS 8517")
    fresh = message_create(conversation=conversation, text="HS 8471")
    old = timezone.now() - timedelta(minutes=5)
    ChatMessage.objects.filter(pk=stale.pk).update(created_at=old, updated_at=old)
    ChatMessage.objects.filter(pk=fresh.pk).update(created_at=timezone.now())
    counts = messages_recover_stale(older_than_s=60)
    assert counts == {"buttons": 1, "answers": 1, "histories": 1, "given_up": 0, "waiting": 0}

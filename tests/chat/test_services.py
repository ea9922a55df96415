"""Chat services: message rules, the snapshot, stop requests, the recovery of stale steps."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from chat.protocol import FrameError, frame_parse
from chat.services import OwnerRequired, conversation_create, message_create
from conversations import contracts
from conversations.models import ChatMessage, Conversation, ConversationEvent
from conversations.selectors import Owner, conversation_snapshot
from hscode.answer_stream import answer_stop_request
from hscode.pipeline import message_process

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation() -> Conversation:
    return conversation_create(owner=Owner(user_id=None, session_key="s" * 32))


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


def test_snapshot_lists_unfinished_messages_with_their_state(conversation):
    message = message_create(conversation=conversation, text="HS 8517")
    snapshot, head = conversation_snapshot(conversation.pk)
    assert head == 2
    assert [m["message_id"] for m in snapshot["messages"]] == [message.pk]
    assert snapshot["messages"][0]["answer"] is None


def test_stop_request_marks_unfinished_answers_on_their_rows(conversation):
    message = message_create(conversation=conversation, text="HS 8517")
    streaming = ChatMessage.objects.create(conversation=conversation, role=ChatMessage.Role.ASSISTANT, content="",
                                           reply_to=message, status=ChatMessage.Status.STREAMING)
    assert answer_stop_request(conversation.pk) == [message.pk]
    message.refresh_from_db()
    streaming.refresh_from_db()
    assert message.stop_requested and streaming.stop_requested


def test_a_stop_before_the_answer_starts_ends_it_stopped_with_nothing_generated(conversation):
    message = message_create(conversation=conversation, text="HS 8517")
    answer_stop_request(conversation.pk, message.pk)
    message_process(message.pk)
    answer = ChatMessage.objects.get(reply_to=message)
    complete = ConversationEvent.objects.get(message=message, event=contracts.ANSWER_COMPLETE)
    assert answer.status == ChatMessage.Status.STOPPED and answer.content == ""
    assert complete.data["stopped"] is True
    assert not ConversationEvent.objects.filter(message=message, event=contracts.ANSWER_DELTA).exists()


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

    from config.celery import app
    from conversations.recovery import messages_recover_stale
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

"""The event log of the conversation core: per-conversation seq allocation and retention."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from chat.services import conversation_create
from config.celery import app as celery_app
from conversations import contracts
from conversations.events import event_emit
from conversations.models import Conversation, ConversationEvent
from conversations.selectors import Owner
from conversations.services import event_log_prune
from conversations.tasks import event_log_prune_task  # noqa: F401 (registers the task, as a worker does)

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

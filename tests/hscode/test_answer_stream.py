"""The answer task: a redelivery that finds the answer finished announces nothing, and still ends the task record
the run that finished it may not have written (a worker killed between the two commits)."""

from __future__ import annotations

import pytest

from chat.services import conversation_create, message_create
from conversations.models import ChatMessage, ConversationEvent
from conversations.selectors import Owner
from hscode.answer_stream import answer_generate

pytestmark = pytest.mark.django_db


def test_a_redelivery_after_the_answer_finished_records_the_task_the_killed_run_did_not():
    conversation = conversation_create(owner=Owner(user_id=None, session_key="a" * 32))
    message = message_create(conversation=conversation, text="HS 8517")
    answer_generate(message.pk)
    message.refresh_from_db()
    assert message.parallel_task_metrics["task_execution"]["task_a"]["status"] == "completed"
    # The run that finished the answer died before recording itself.
    metrics = message.parallel_task_metrics
    del metrics["task_execution"]["task_a"]
    ChatMessage.objects.filter(pk=message.pk).update(parallel_task_metrics=metrics)
    announced = ConversationEvent.objects.filter(conversation_id=conversation.pk).count()

    answer_generate(message.pk)  # the redelivery
    message.refresh_from_db()
    recorded = message.parallel_task_metrics["task_execution"]["task_a"]
    assert recorded["status"] == "completed" and recorded["recovered"] is True
    assert recorded["start_time"] <= recorded["end_time"] and recorded["end_time"].endswith("Z")
    assert ConversationEvent.objects.filter(conversation_id=conversation.pk).count() == announced

    answer_generate(message.pk)  # a further redelivery changes nothing
    message.refresh_from_db()
    assert message.parallel_task_metrics["task_execution"]["task_a"] == recorded

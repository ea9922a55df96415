"""Task C: save the exchange into the owner's history (recent searches, conversation activity)."""

from __future__ import annotations

import time

from django.db import transaction
from django.utils import timezone

from conversations import contracts
from conversations.models import ChatMessage, Conversation, SearchHistory
from conversations.task_metrics import task_metrics_record
from hscode.services import message_analyse


def history_record(user_message_id: int) -> None:
    start_iso, started_cpu = contracts.now_iso(), time.process_time()
    message = ChatMessage.objects.select_related("conversation").filter(
        pk=user_message_id, role=ChatMessage.Role.USER
    ).first()
    if message is None:
        return
    analysis = message_analyse(message.content)
    code = None
    if analysis.explicit is not None:
        code = analysis.explicit.dotted
    elif analysis.chosen is not None:
        code = analysis.chosen.dotted
    operations = 1
    with transaction.atomic():
        Conversation.objects.filter(pk=message.conversation_id).update(updated_at=timezone.now())
        if code is not None:
            conversation = message.conversation
            SearchHistory.objects.get_or_create(
                message=message,
                defaults={
                    "owner_user_id": conversation.owner_user_id,
                    "owner_session_key": conversation.owner_session_key,
                    "hscode": code,
                    "product_name": analysis.product_name[:200],
                },
            )
            operations += 1
    task_metrics_record(
        message.pk, "task_c", start_time=start_iso, end_time=contracts.now_iso(), status="completed",
        db_operations=operations + 1, cpu_ms=round((time.process_time() - started_cpu) * 1000),
    )


def history_give_up(message: ChatMessage) -> None:
    """The history step ran out of attempts (conversations/recovery.py): record task C as failed."""
    now = contracts.now_iso()
    task_metrics_record(message.pk, "task_c", start_time=now, end_time=now, status="failed")

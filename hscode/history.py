"""Task C: save the exchange into the owner's history (recent searches, conversation activity).

CPU-only and a few rows: the orchestrator (hscode/pipeline.py) runs it inline, in the transaction that stores the
analysis, reading the analysis it holds (or the stored copy).
"""

from __future__ import annotations

import time

from django.db import transaction
from django.utils import timezone

from conversations import contracts
from conversations.models import ChatMessage, Conversation, SearchHistory
from conversations.task_metrics import task_metrics_put

from .analysis.analyse import TextAnalysis
from .services import message_analyse
from .stored_analysis import stored_analysis


def history_code(analysis: TextAnalysis) -> str | None:
    """The code the owner's recent searches show for this message (the typed one, else the classifier's pick)."""
    if analysis.explicit is not None:
        return analysis.explicit.dotted
    if analysis.chosen is not None:
        return analysis.chosen.dotted
    return None


def history_put(message: ChatMessage, conversation: Conversation, analysis: TextAnalysis, *, start_iso: str,
                started_cpu: float) -> bool:
    """Record the exchange, in the caller's transaction (`message` locked; the caller saves its
    parallel_task_metrics). Idempotent: False when task C is already recorded."""
    if "task_c" in ((message.parallel_task_metrics or {}).get("task_execution") or {}):
        return False
    Conversation.objects.filter(pk=message.conversation_id).update(updated_at=timezone.now())
    operations = 1
    code = history_code(analysis)
    if code is not None:
        # One statement (INSERT … ON CONFLICT DO NOTHING): a row already there (a pick, a rerun) is kept.
        SearchHistory.objects.bulk_create([SearchHistory(
            message=message, owner_user_id=conversation.owner_user_id,
            owner_session_key=conversation.owner_session_key, hscode=code, product_name=analysis.product_name[:200],
        )], ignore_conflicts=True)
        operations += 1
    task_metrics_put(message, "task_c", start_time=start_iso, end_time=contracts.now_iso(), status="completed",
                     db_operations=operations + 1, cpu_ms=round((time.process_time() - started_cpu) * 1000))
    return True


def history_record(user_message_id: int) -> None:
    """Task C on its own (a task published before the orchestrator, still in a queue): the same, in one
    transaction, from the stored analysis."""
    start_iso, started_cpu = contracts.now_iso(), time.process_time()
    with transaction.atomic():
        message = ChatMessage.objects.locked().filter(pk=user_message_id, role=ChatMessage.Role.USER).first()
        if message is None:
            return
        analysis = stored_analysis(message.hscode_analysis) or message_analyse(message.content)
        conversation = Conversation.objects.get(pk=message.conversation_id)
        if history_put(message, conversation, analysis, start_iso=start_iso, started_cpu=started_cpu):
            message.save(update_fields=["parallel_task_metrics", "updated_at"])


def history_give_up(message: ChatMessage) -> None:
    """The history step ran out of attempts (conversations/recovery.py): record task C as failed. Called with the
    message locked, inside the transaction that records the failure."""
    now = contracts.now_iso()
    task_metrics_put(message, "task_c", start_time=now, end_time=now, status="failed")
    message.save(update_fields=["parallel_task_metrics", "updated_at"])

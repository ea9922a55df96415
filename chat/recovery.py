"""Recovery of work whose task was lost (a broker restart without persistence, a purged queue).

Every task is idempotent and status-guarded, so enqueueing it again for a message that is
stuck is always safe: finished steps emit nothing twice, missing ones run.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from .models import ChatMessage

logger = logging.getLogger(__name__)


def messages_recover_stale(*, older_than_s: int | None = None) -> dict[str, int]:
    """Re-enqueue the steps of messages that made no progress for `older_than_s`. Returns counts per step."""
    from hscode.tasks import detail_page_prepare_task

    from .tasks import answer_generate_task, history_record_task

    quiet = older_than_s if older_than_s is not None else settings.RECOVERY_STALE_AFTER_S
    cutoff = timezone.now() - timedelta(seconds=quiet)
    # The answer may legitimately wait for an LLM chunk for up to LLM_TIMEOUT_S.
    answer_cutoff = cutoff - timedelta(seconds=settings.LLM_TIMEOUT_S)
    users = ChatMessage.objects.filter(role=ChatMessage.Role.USER, created_at__lt=cutoff)

    buttons = list(
        users.filter(status__in=[ChatMessage.Status.PENDING, ChatMessage.Status.ANALYSING], updated_at__lt=cutoff)
        .values_list("pk", flat=True)[:500]
    )
    answers = list(
        users.filter(
            Q(answer__isnull=True)
            | Q(answer__status=ChatMessage.Status.STREAMING, answer__updated_at__lt=answer_cutoff)
        ).values_list("pk", flat=True)[:500]
    )
    histories = list(
        users.filter(
            Q(parallel_task_metrics__isnull=True) | ~Q(parallel_task_metrics__task_execution__has_key="task_c")
        ).values_list("pk", flat=True)[:500]
    )
    for pk in buttons:
        detail_page_prepare_task.delay(pk)
    for pk in answers:
        answer_generate_task.delay(pk)
    for pk in histories:
        history_record_task.delay(pk)
    counts = {"buttons": len(buttons), "answers": len(answers), "histories": len(histories)}
    if any(counts.values()):
        logger.warning("re-enqueued stale work: %s", counts)
    return counts

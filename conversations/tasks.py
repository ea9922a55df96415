"""Celery tasks of the conversation core: housekeeping of the event log and the recovery sweep.

Their names keep the "chat.tasks." prefix they were published under (beat schedules, queued messages)."""

from __future__ import annotations

from celery import shared_task

from .recovery import messages_recover_stale
from .services import event_log_prune


@shared_task(name="chat.tasks.event_log_prune")
def event_log_prune_task() -> int:
    return event_log_prune()


@shared_task(name="chat.tasks.messages_recover_stale")
def messages_recover_stale_task() -> dict[str, int]:
    return messages_recover_stale()

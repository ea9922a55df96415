"""Celery tasks A (answer) and C (history). Thin: each calls one service."""

from __future__ import annotations

from celery import shared_task

from config.celery import DB_RETRY

from .answering import answer_generate
from .history import history_record
from .models import MessageStep
from .recovery import messages_recover_stale, step_claim
from .services import event_log_prune


@shared_task(name="chat.tasks.answer_generate", acks_late=True, **DB_RETRY)
def answer_generate_task(message_id: int) -> None:
    step_claim(message_id, MessageStep.Step.ANSWER)
    answer_generate(message_id)


@shared_task(name="chat.tasks.history_record", acks_late=True, **DB_RETRY)
def history_record_task(message_id: int) -> None:
    step_claim(message_id, MessageStep.Step.HISTORY)
    history_record(message_id)


@shared_task(name="chat.tasks.event_log_prune")
def event_log_prune_task() -> int:
    return event_log_prune()


@shared_task(name="chat.tasks.messages_recover_stale")
def messages_recover_stale_task() -> dict[str, int]:
    return messages_recover_stale()

"""Celery tasks A (answer) and C (history). Thin: each calls one service."""

from __future__ import annotations

from celery import shared_task

from chat.answer_stream import answer_generate
from config.celery import DB_RETRY
from conversations.models import MessageStep
from conversations.recovery import step_claim

from .history import history_record


@shared_task(name="chat.tasks.answer_generate", acks_late=True, **DB_RETRY)
def answer_generate_task(message_id: int) -> None:
    step_claim(message_id, MessageStep.Step.ANSWER)
    answer_generate(message_id)


@shared_task(name="chat.tasks.history_record", acks_late=True, **DB_RETRY)
def history_record_task(message_id: int) -> None:
    step_claim(message_id, MessageStep.Step.HISTORY)
    history_record(message_id)

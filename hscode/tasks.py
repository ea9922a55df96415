"""Celery tasks of task B. Thin: each calls one service and enqueues what it returns."""

from __future__ import annotations

from celery import shared_task

from config.celery import DB_RETRY
from conversations.models import MessageStep
from conversations.recovery import step_claim

from .reprocessing import reprocess_run
from .services import detail_button_ready, detail_page_prepare


@shared_task(name="hscode.tasks.detail_page_prepare", acks_late=True, **DB_RETRY)
def detail_page_prepare_task(message_id: int) -> None:
    step_claim(message_id, MessageStep.Step.BUTTONS)
    for button_type in detail_page_prepare(message_id):
        detail_button_build_task.delay(message_id, button_type)


@shared_task(name="hscode.tasks.detail_button_build", acks_late=True, **DB_RETRY)
def detail_button_build_task(message_id: int, button_type: str) -> None:
    detail_button_ready(message_id, button_type)


@shared_task(name="hscode.tasks.reprocess_message", acks_late=True)
def reprocess_message_task(message_id: int, request_id: str) -> None:
    """Reprocess one message (routed to the low-priority "bulk" queue by CELERY_TASK_ROUTES)."""
    reprocess_run(message_id, request_id)

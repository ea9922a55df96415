"""Celery tasks of a person's message and of reprocessing. Thin: each calls one service.

`hscode.tasks.message_process` is the one task `message_create` publishes; the orchestrator it calls
(hscode/pipeline.py) publishes `hscode.tasks.detail_page_prepare` (Context7, then the buttons) and
`chat.tasks.answer_generate` (an LLM or live-lookup answer) to the io queue when a step waits on the network.
`chat.tasks.history_record` and `hscode.tasks.detail_button_build` keep their names for tasks published before the
orchestrator and still in a queue; their names are why these tasks keep the old `chat.tasks.` prefix.
"""

from __future__ import annotations

from celery import shared_task

from config.celery import DB_RETRY
from conversations.models import MessageStep
from conversations.recovery import step_claim

from .answer_stream import answer_generate
from .history import history_record
from .pipeline import message_process
from .reprocessing import reprocess_run
from .services import detail_button_ready, detail_page_build


@shared_task(name="hscode.tasks.message_process", acks_late=True, **DB_RETRY)
def message_process_task(message_id: int) -> None:
    message_process(message_id)


@shared_task(name="hscode.tasks.detail_page_prepare", acks_late=True, **DB_RETRY)
def detail_page_prepare_task(message_id: int) -> None:
    step_claim(message_id, MessageStep.Step.BUTTONS)
    detail_page_build(message_id)


@shared_task(name="chat.tasks.answer_generate", acks_late=True, **DB_RETRY)
def answer_generate_task(message_id: int) -> None:
    step_claim(message_id, MessageStep.Step.ANSWER)
    answer_generate(message_id)


@shared_task(name="chat.tasks.history_record", acks_late=True, **DB_RETRY)
def history_record_task(message_id: int) -> None:
    step_claim(message_id, MessageStep.Step.HISTORY)
    history_record(message_id)


@shared_task(name="hscode.tasks.detail_button_build", acks_late=True, **DB_RETRY)
def detail_button_build_task(message_id: int, button_type: str) -> None:
    detail_button_ready(message_id, button_type)


@shared_task(name="hscode.tasks.reprocess_message", acks_late=True)
def reprocess_message_task(message_id: int, request_id: str) -> None:
    """Reprocess one message (routed to the low-priority "bulk" queue by CELERY_TASK_ROUTES)."""
    reprocess_run(message_id, request_id)

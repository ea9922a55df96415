"""Recovery of work whose task was lost (a broker restart without persistence, a purged queue, a publish that
failed after commit) or whose task failed, with an end.

Every task is idempotent and status-guarded, so enqueueing it again for a message that is stuck is always
safe: finished steps emit nothing twice, missing ones run. Each step of a message (buttons, answer, history)
keeps a MessageStep row: how often it was enqueued, and when a worker last started it (its claim).

- A step not started since it was last enqueued is waiting in a queue, or its task was lost. While the
  broker still holds tasks (queued, or delivered to a worker and not yet acknowledged) it is taken to be
  waiting (a backlog) and left alone. Once the broker holds none, it was lost, and is enqueued again.
- A step started and then quiet for RECOVERY_STALE_AFTER_S failed or died with its worker: enqueued again.
- After CHAT_STEP_MAX_ATTEMPTS enqueues the step is given up: the message's buttons end in a
  `detail_page_buttons_error` (seed 002 §7 shape, not retryable) and its answer in an `answer_complete`
  carrying the error, so the person sees an error instead of a spinner. History is marked failed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import redis
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .models import ChatMessage, MessageStep

logger = logging.getLogger(__name__)

Step = MessageStep.Step
WATCHED_QUEUES = ("chat", "io")
# kombu's Redis transport: a queue's list per priority step, and one hash of delivered, unacknowledged messages.
_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")
_UNACKED_KEY = "unacked"
SWEEP_TASK = "chat.tasks.messages_recover_stale"


def step_claim(message_id: int, step: str) -> None:
    """A worker starts `step` of the message (called first thing by each task)."""
    now = timezone.now()
    updated = MessageStep.objects.filter(message_id=message_id, step=step).update(claimed_at=now)
    if not updated:
        created_at = ChatMessage.objects.filter(pk=message_id).values_list("created_at", flat=True).first()
        if created_at is None:
            return
        MessageStep.objects.get_or_create(message_id=message_id, step=step,
                                          defaults={"queued_at": created_at, "claimed_at": now})


def steps_claim(message_id: int, steps: list[str], queued_at: datetime) -> None:
    """A worker starts several steps of the message at once: one statement (an upsert). Called outside the
    transaction that does the work, so that a step that fails still shows it was started. `queued_at` (the
    message's creation) is what a row made here records as its first enqueue."""
    if not steps:
        return
    now = timezone.now()
    MessageStep.objects.bulk_create(
        [MessageStep(message_id=message_id, step=step, queued_at=queued_at, claimed_at=now) for step in steps],
        update_conflicts=True, unique_fields=["message", "step"], update_fields=["claimed_at"],
    )


def publish_after_commit(task, *args) -> None:
    """Enqueue `task` once the surrounding transaction commits. A publish that fails then (the broker is down)
    is logged, not raised: what was committed stays, and the recovery sweeper enqueues the step once the
    broker is back. The person is never asked to send again (which would store the message twice)."""

    def publish() -> None:
        try:
            task.delay(*args)
        except Exception:
            logger.exception("publishing %s%r failed after commit; the recovery sweeper will enqueue it again",
                             task.name, args)

    transaction.on_commit(publish)


def queued_task_count() -> int | None:
    """Tasks the broker holds for the chat and io queues, plus tasks delivered to a worker and not yet
    acknowledged (reserved or running): a step that has not started may be among them. None when the broker
    cannot say (unreachable, or not Redis), which counts as busy."""
    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return None
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        with client.pipeline(transaction=False) as pipe:
            for name in WATCHED_QUEUES:
                for suffix in _PRIORITY_SUFFIXES:
                    pipe.llen(name + suffix)
            pipe.hvals(_UNACKED_KEY)
            *lengths, unacked = pipe.execute()
        return sum(lengths) + sum(1 for raw in unacked if _is_step_delivery(raw))
    except redis.RedisError:
        logger.warning("could not read the broker's queue lengths", exc_info=True)
        return None
    finally:
        client.close()


def _is_step_delivery(raw: bytes) -> bool:
    """An unacknowledged delivery (kombu stores [message, exchange, routing key]) on a watched queue, other than
    this sweep's own task, which is itself unacknowledged while it runs (tasks ack late)."""
    try:
        message, _exchange, routing_key = json.loads(raw)
        task = (message.get("headers") or {}).get("task")
    except (ValueError, TypeError, AttributeError):
        return True  # unreadable: assume it is work in flight
    return routing_key in WATCHED_QUEUES and task != SWEEP_TASK


@dataclass(frozen=True, slots=True)
class StepHandler:
    """What the layer owning a step supplies (wired in config/wiring.py): the Celery task that does the step
    (called with the message id), and how to end what the person waits for once the step is given up (called
    with the person's message locked, inside the transaction that records the failure)."""

    task: Any
    give_up: Callable[[ChatMessage], None]


_handlers: dict[str, StepHandler] = {}


def step_handler_register(step: str, *, task: Any, give_up: Callable[[ChatMessage], None]) -> None:
    """Register the owner of a message step. The core knows the steps (MessageStep.Step), not their work."""
    _handlers[step] = StepHandler(task=task, give_up=give_up)


def step_handler(step: str) -> StepHandler:
    try:
        return _handlers[step]
    except KeyError:
        raise LookupError(f"no handler registered for message step {step!r} (config/wiring.py)") from None


def _stale_candidates(cutoff: datetime) -> dict[str, list[int]]:
    # The answer may legitimately wait for an LLM chunk for up to LLM_TIMEOUT_S.
    answer_cutoff = cutoff - timedelta(seconds=settings.LLM_TIMEOUT_S)
    users = ChatMessage.objects.filter(role=ChatMessage.Role.USER, created_at__lt=cutoff)
    return {
        Step.BUTTONS: list(
            users.filter(status__in=[ChatMessage.Status.PENDING, ChatMessage.Status.ANALYSING],
                         updated_at__lt=cutoff).values_list("pk", flat=True)[:500]
        ),
        Step.ANSWER: list(
            users.filter(
                Q(answer__isnull=True)
                | Q(answer__status=ChatMessage.Status.STREAMING, answer__updated_at__lt=answer_cutoff)
            ).values_list("pk", flat=True)[:500]
        ),
        Step.HISTORY: list(
            users.filter(
                Q(parallel_task_metrics__isnull=True) | ~Q(parallel_task_metrics__task_execution__has_key="task_c")
            ).values_list("pk", flat=True)[:500]
        ),
    }


def messages_recover_stale(*, older_than_s: int | None = None) -> dict[str, int]:
    """Re-enqueue lost or failed steps, give up those out of attempts. Returns re-enqueues per step (and the
    number given up, and of steps left waiting in a busy queue)."""
    quiet = older_than_s if older_than_s is not None else settings.RECOVERY_STALE_AFTER_S
    cutoff = timezone.now() - timedelta(seconds=quiet)
    candidates = _stale_candidates(cutoff)
    waiting_in_queue: int | None = None
    counts = {"buttons": 0, "answers": 0, "histories": 0, "given_up": 0, "waiting": 0}
    names = {Step.BUTTONS: "buttons", Step.ANSWER: "answers", Step.HISTORY: "histories"}
    # Several steps of one message may be done by one task (the owners' orchestrator): published once per sweep.
    published: set[tuple[str, int]] = set()
    for step, message_ids in candidates.items():
        if not message_ids:
            continue
        rows = {row.message_id: row for row in MessageStep.objects.filter(step=step, message_id__in=message_ids)}
        created = dict(ChatMessage.objects.filter(pk__in=message_ids).values_list("pk", "created_at"))
        for message_id in message_ids:
            row = rows.get(message_id)
            if row is None:  # never started: as enqueued when the message was sent
                row, _ = MessageStep.objects.get_or_create(message_id=message_id, step=step,
                                                           defaults={"queued_at": created[message_id]})
            if row.failed_at is not None:
                continue
            if max(row.queued_at, row.claimed_at or row.queued_at) > cutoff:
                continue  # enqueued or started within the quiet period: give it that time
            started = row.claimed_at is not None and row.claimed_at >= row.queued_at
            if not started:
                if waiting_in_queue is None:
                    waiting_in_queue = queued_task_count()
                if waiting_in_queue is None or waiting_in_queue > 0:
                    counts["waiting"] += 1  # a backlog: its task is most likely still queued
                    continue
            if row.attempts >= settings.CHAT_STEP_MAX_ATTEMPTS:
                message_step_give_up(message_id, step)
                counts["given_up"] += 1
                continue
            row.attempts += 1
            row.queued_at = timezone.now()
            row.save(update_fields=["attempts", "queued_at"])
            task = step_handler(step).task
            if (task.name, message_id) not in published:
                published.add((task.name, message_id))
                task.delay(message_id)
            counts[names[step]] += 1
    if counts["buttons"] or counts["answers"] or counts["histories"] or counts["given_up"]:
        logger.warning("re-enqueued stale work: %s", counts)
    return counts


def message_step_give_up(message_id: int, step: str) -> None:
    """The step failed on its last attempt: record it, and end what the person is waiting for with an error."""
    with transaction.atomic():
        message = ChatMessage.objects.locked().filter(pk=message_id, role=ChatMessage.Role.USER).first()
        if message is None:
            return
        row, _ = MessageStep.objects.select_for_update().get_or_create(
            message_id=message_id, step=step, defaults={"queued_at": message.created_at})
        if row.failed_at is not None:
            return
        row.failed_at = timezone.now()
        row.save(update_fields=["failed_at"])
        logger.error("giving up %s of message %s after %d attempts", step, message_id, row.attempts)
        step_handler(step).give_up(message)

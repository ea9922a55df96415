"""Operator services: staff reviews of analyses, selecting messages, and reprocessing them through task B.

Reviews. `review_record` stores an AnalysisReview and feeds its label (the corrected
code, or the detected one when it was right) to the classifier as a
ClassificationCase(source="review"); a later review of the same text replaces the
earlier review case.

Reprocessing. A request (one UUID) covers any number of messages; each message gets
one ReprocessRun row per request, unique on (message, request_id). The row is the
idempotency guard and keeps what the reset replaced:

    queued --claim--> running --task B done--> done
    queued --claim, message still in flight--> skipped
    running --an exception--> failed

`reprocess_run(message_id, request_id)` claims the row under the message's lock. Only
a *queued* run resets the message (status PENDING, analysis cleared, detail cache
entry dropped) and copies the old fields into `run.previous`. Then task B runs
through the normal services (`detail_page_prepare` + `detail_button_ready`), which
emit `detail_page_buttons_start`, the three `detail_page_button_ready` events and
`detail_page_buttons_complete` (or `detail_page_buttons_error`) to connected
clients. A *running* run (a redelivery after a worker died) resumes: the services
are guarded by status, so finished steps emit nothing twice. A *done*, *skipped*
or *failed* run does nothing: a repeated or redelivered request never runs twice.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from conversations.contracts import HscodeAnalysisRecord
from conversations.models import ChatMessage, SearchHistory

from .analysis.notation import normalize_code
from .analysis.text import clean, detect_language
from .models import AnalysisReview, ClassificationCase, ReprocessRun, case_text_hash
from .pipeline import message_process
from .services import question_cache_key

REPROCESS_TASK = "hscode.tasks.reprocess_message"

logger = logging.getLogger(__name__)

SOURCES = ("explicit", "local", "context7", "person")  # person: the person picked one of the candidates
FINAL_STATES = (ReprocessRun.State.DONE, ReprocessRun.State.SKIPPED, ReprocessRun.State.FAILED)


class OperatorError(ValueError):
    """Input an operator can fix (an invalid code, a verdict that does not fit the message)."""


# --- HS codes --------------------------------------------------------------------


def hs6_normalise(value: str) -> str:
    """'8517.13', '851713', '8517.13.00' -> '851713'; OperatorError unless a valid HS 2022 subheading."""
    mention = normalize_code(str(value or "").strip())
    if mention is None:
        raise OperatorError(f"{value!r} is no HS code; give a 6-digit HS 2022 subheading such as 8517.13")
    if not mention.valid:
        hint = f" (did you mean {', '.join(mention.suggestions[:3])}?)" if mention.suggestions else ""
        raise OperatorError(f"{mention.raw}: {mention.reason}{hint}")
    if mention.level != 6:
        raise OperatorError(f"{mention.raw} is a {mention.level}-digit code; give the 6-digit subheading")
    return mention.code


def code_digits(value: str | None) -> str:
    return "".join(ch for ch in str(value or "") if ch.isdigit())


# --- filters shared by the command, the admin and the API ----------------------------


def hscode_q(code: str) -> Q:
    """Messages whose detected code starts with these digits ('8517', '8517.13', '851713')."""
    digits = code_digits(code)
    if len(digits) < 2:
        raise OperatorError(f"{code!r}: give at least the 2-digit chapter of an HS code")
    return Q(hscode_analysis__resolved__code__startswith=digits[:6])


def source_q(source: str) -> Q:
    if source not in SOURCES:
        raise OperatorError(f"source must be one of {', '.join(SOURCES)}")
    return Q(hscode_analysis__analysis_source=source)


def below_confidence_q(value: float) -> Q:
    return Q(hscode_analysis__classification_confidence__lt=float(value))


def messages_select(
    *,
    ids: Iterable[int] = (),
    conversation: str | uuid.UUID | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    statuses: Iterable[str] = (),
    hscode: str | None = None,
    source: str | None = None,
    below_confidence: float | None = None,
    fallback_used: bool | None = None,
) -> QuerySet[ChatMessage]:
    """A person's messages (never assistant answers) matching every criterion given, oldest first."""
    rows = ChatMessage.objects.filter(role=ChatMessage.Role.USER)
    ids = list(ids)
    if ids:
        rows = rows.filter(pk__in=ids)
    if conversation:
        rows = rows.filter(conversation_id=conversation)
    if since is not None:
        rows = rows.filter(created_at__gte=since)
    if until is not None:
        rows = rows.filter(created_at__lt=until)
    statuses = list(statuses)
    if statuses:
        rows = rows.filter(status__in=statuses)
    if hscode:
        rows = rows.filter(hscode_q(hscode))
    if source:
        rows = rows.filter(source_q(source))
    if below_confidence is not None:
        rows = rows.filter(below_confidence_q(below_confidence))
    if fallback_used is not None:
        rows = rows.filter(hscode_analysis__fallback_used=fallback_used)
    return rows.order_by("id")


# --- reviews -----------------------------------------------------------------------


def review_validate(message: ChatMessage, verdict: str, corrected_hs6: str = "") -> tuple[str, str]:
    """(corrected 6 digits or "", label 6 digits or "") for a review; OperatorError when it does not fit."""
    if message.role != ChatMessage.Role.USER:
        raise OperatorError("only a person's message has an analysis to review")
    analysis = message.analysis_record or HscodeAnalysisRecord()
    corrected_hs6 = str(corrected_hs6 or "").strip()
    if verdict == AnalysisReview.Verdict.WRONG:
        if not corrected_hs6:
            raise OperatorError("a wrong verdict needs the corrected 6-digit code")
        corrected = hs6_normalise(corrected_hs6)
        return corrected, corrected
    if verdict == AnalysisReview.Verdict.CORRECT:
        if corrected_hs6:
            raise OperatorError("a correct verdict takes no corrected code (choose 'wrong' to correct it)")
        if not analysis.detected_hscode:
            raise OperatorError("no code was detected: record it as wrong, with the right code")
        resolved = code_digits(analysis.resolved_code)
        return "", resolved if len(resolved) == 6 else ""  # a heading alone cannot label a case
    raise OperatorError("verdict must be 'correct' or 'wrong'")


def review_record(
    *, message: ChatMessage, reviewer, verdict: str, corrected_hs6: str = "", note: str = ""
) -> AnalysisReview:
    """Store a staff review and feed its label to the classifier. Raises OperatorError for invalid input."""
    corrected, label = review_validate(message, verdict, corrected_hs6)
    analysis = message.analysis_record
    detected = (analysis.detected_hscode if analysis else None) or ""
    with transaction.atomic():
        review = AnalysisReview.objects.create(
            message=message,
            reviewer=reviewer if getattr(reviewer, "pk", None) else None,
            verdict=verdict,
            detected_hscode=detected[:20],
            corrected_hs6=corrected,
            label_hs6=label,
            note=note or "",
        )
        if label:
            review_case_put(message, label)
    return review


def review_case_put(message: ChatMessage, hs6: str) -> ClassificationCase | None:
    """The message's text labelled with hs6, as a review case (replacing earlier review labels of that text)."""
    text = clean(message.content).strip()
    if not text:
        return None
    text_hash = case_text_hash(text)
    ClassificationCase.objects.filter(source=ClassificationCase.Source.REVIEW, text_hash=text_hash).exclude(
        hs6=hs6
    ).delete()
    # the same text and code imported earlier becomes a staff verdict (a new row, so cached indexes notice)
    ClassificationCase.objects.filter(text_hash=text_hash, hs6=hs6).exclude(
        source=ClassificationCase.Source.REVIEW
    ).delete()
    analysis = message.analysis_record
    language = analysis.language if analysis else None
    case, _ = ClassificationCase.objects.get_or_create(
        text_hash=text_hash,
        hs6=hs6,
        defaults={
            "text": text,
            "lang": language if language in ("ko", "en") else detect_language(text),
            "source": ClassificationCase.Source.REVIEW,
        },
    )
    return case


def latest_reviews() -> QuerySet[AnalysisReview]:
    """The newest review of every reviewed message that has a 6-digit label."""
    from django.db.models import OuterRef, Subquery

    newest = AnalysisReview.objects.filter(message=OuterRef("message")).order_by("-created_at", "-id")
    return (
        AnalysisReview.objects.filter(pk=Subquery(newest.values("pk")[:1]))
        .exclude(label_hs6="")
        .select_related("message")
        .order_by("message_id")
    )


# --- reprocessing ------------------------------------------------------------------


def _reprocess_enqueue(message_id: int, request_id: str) -> None:
    # By name: hscode/tasks.py imports this module for reprocess_run (config/celery.py routes it to "bulk").
    current_app.signature(REPROCESS_TASK, args=(message_id, request_id)).delay()


@dataclass
class RequestOutcome:
    request_id: uuid.UUID
    created: list[int] = field(default_factory=list)  # message ids with a new run
    requeued: list[int] = field(default_factory=list)  # runs of this request still queued, enqueued again
    existing: dict[int, str] = field(default_factory=dict)  # message id -> state of a run already past queued

    @property
    def to_run(self) -> list[int]:
        return [*self.created, *self.requeued]


def reprocess_request(
    message_ids: Iterable[int],
    *,
    request_id: uuid.UUID | str | None = None,
    requested_by=None,
    via: str = "",
    enqueue: bool = True,
) -> RequestOutcome:
    """Record one run per message for the request; with enqueue, send each to the bulk queue after commit.

    Repeating a request (same request_id) creates nothing new: runs still queued are
    enqueued again (the task is guarded, so a duplicate is harmless), the others are left.
    """
    request_id = uuid.UUID(str(request_id)) if request_id else uuid.uuid4()
    outcome = RequestOutcome(request_id=request_id)
    user = requested_by if getattr(requested_by, "pk", None) else None
    for message_id in message_ids:
        with transaction.atomic():
            run, created = ReprocessRun.objects.get_or_create(
                message_id=message_id,
                request_id=request_id,
                defaults={"requested_by": user, "requested_via": via},
            )
            if created:
                outcome.created.append(message_id)
            elif run.state == ReprocessRun.State.QUEUED:
                outcome.requeued.append(message_id)
            else:
                outcome.existing[message_id] = run.state
                continue
            if enqueue:
                transaction.on_commit(partial(_reprocess_enqueue, message_id, str(request_id)))
    return outcome


def reprocess_run(message_id: int, request_id: uuid.UUID | str) -> ReprocessRun | None:
    """Reprocess one message under one request, at most once (see the module docstring)."""
    request_id = uuid.UUID(str(request_id))
    run = _claim(message_id, request_id)
    if run is None or run.state != ReprocessRun.State.RUNNING:
        return run
    pending = ChatMessage.objects.filter(pk=message_id, hscode_analysis__isnull=True).values_list("content", flat=True)
    for text in pending:  # not analysed again yet (also when resuming after a crash)
        # A fresh analysis, not the cached one (the point of reprocessing); the result is cached again.
        cache.delete(question_cache_key(text))
    try:
        message_process(message_id, hops=False)
    except Exception as exc:
        logger.exception("reprocessing message %s (request %s) failed", message_id, request_id)
        ReprocessRun.objects.filter(pk=run.pk, state=ReprocessRun.State.RUNNING).update(
            state=ReprocessRun.State.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000], finished_at=timezone.now()
        )
        raise
    return _finish(run.pk)


def _busy(message: ChatMessage) -> bool:
    """Still being processed by someone else: pending/analysing and touched within the stale window."""
    in_flight = message.status in (ChatMessage.Status.PENDING, ChatMessage.Status.ANALYSING)
    recent = message.updated_at >= timezone.now() - timedelta(seconds=settings.REPROCESS_STALE_AFTER_S)
    return in_flight and recent


def _claim(message_id: int, request_id: uuid.UUID) -> ReprocessRun | None:
    """Count the delivery; a queued run resets the message and becomes running."""
    with transaction.atomic():
        message = (
            ChatMessage.objects.select_for_update().filter(pk=message_id, role=ChatMessage.Role.USER).first()
        )
        if message is None:
            logger.warning("reprocess: no user message %s", message_id)
            return None
        run, _ = ReprocessRun.objects.select_for_update().get_or_create(
            message=message, request_id=request_id, defaults={"requested_via": "task"}
        )
        run.attempts += 1
        if run.state == ReprocessRun.State.QUEUED:
            if _busy(message):
                run.state = ReprocessRun.State.SKIPPED
                run.error = f"message is {message.status}: its processing is still in flight"
                run.finished_at = timezone.now()
            else:
                _reset(message, run)
        run.save()
    return run


def _reset(message: ChatMessage, run: ReprocessRun) -> None:
    analysis = message.analysis_record
    run.previous_status = message.status
    run.previous_hscode = ((analysis.detected_hscode if analysis else None) or "")[:20]
    run.previous_confidence = analysis.classification_confidence if analysis else None
    run.previous = {
        "status": message.status,
        "hscode_analysis": message.hscode_analysis,
        "context7_analysis": message.context7_analysis,
        "sse_bookmark_data": message.sse_bookmark_data,
        "parallel_task_metrics": message.parallel_task_metrics,
        "detail_page_processing_time": message.detail_page_processing_time,
    }
    run.state = ReprocessRun.State.RUNNING
    run.started_at = timezone.now()
    # The state task B starts from: it analyses afresh and announces new buttons.
    message.status = ChatMessage.Status.PENDING
    message.hscode_analysis = None
    message.context7_analysis = None
    message.sse_bookmark_data = None
    message.detail_page_processing_time = None
    message.waiting_since = run.started_at
    message.save(
        update_fields=["status", "hscode_analysis", "context7_analysis", "sse_bookmark_data",
                       "detail_page_processing_time", "waiting_since", "updated_at"]
    )


def _finish(run_id: int) -> ReprocessRun:
    with transaction.atomic():
        run = ReprocessRun.objects.select_for_update().get(pk=run_id)
        if run.state != ReprocessRun.State.RUNNING:
            return run
        message = ChatMessage.objects.select_for_update().get(pk=run.message_id)
        if message.status not in (ChatMessage.Status.COMPLETED, ChatMessage.Status.FAILED):
            return run  # another delivery of this run is still building buttons; it finishes the run
        analysis = message.analysis_record
        now = timezone.now()
        run.new_status = message.status
        run.new_hscode = ((analysis.detected_hscode if analysis else None) or "")[:20]
        run.new_confidence = analysis.classification_confidence if analysis else None
        run.code_changed = code_digits(run.previous_hscode) != code_digits(run.new_hscode)
        run.state = ReprocessRun.State.DONE
        run.finished_at = now
        run.save()
        fields = ["updated_at"]
        if run.started_at is not None:
            # Task B measures from the message's creation; a reprocessed message reports its own run.
            message.detail_page_processing_time = max(0, int((now - run.started_at).total_seconds() * 1000))
            fields.append("detail_page_processing_time")
        if analysis is not None:
            analysis.extra["reprocess"] = {
                "request_id": str(run.request_id),
                "run_id": run.pk,
                "reprocessed_at": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "previous_hscode": run.previous_hscode or None,
                "previous_confidence": run.previous_confidence,
                "code_changed": run.code_changed,
            }
            message.hscode_analysis = analysis.serialize()
            fields.append("hscode_analysis")
        message.save(update_fields=fields)
        if run.code_changed and run.new_hscode:
            SearchHistory.objects.filter(message=message).update(hscode=run.new_hscode)
    return run


def request_summary(request_id: uuid.UUID | str) -> dict[str, Any]:
    """Counts per state, the messages whose code changed and the errors of one request."""
    runs = list(ReprocessRun.objects.filter(request_id=request_id).order_by("message_id"))
    states: dict[str, int] = {state: 0 for state in ReprocessRun.State.values}
    for run in runs:
        states[run.state] += 1
    return {
        "request_id": str(request_id),
        "total": len(runs),
        "states": states,
        "changed": [
            {"message_id": r.message_id, "previous": r.previous_hscode or None, "new": r.new_hscode or None}
            for r in runs
            if r.state == ReprocessRun.State.DONE and r.code_changed
        ],
        "unchanged": sum(1 for r in runs if r.state == ReprocessRun.State.DONE and not r.code_changed),
        "errors": [
            {"message_id": r.message_id, "state": r.state, "error": r.error}
            for r in runs
            if r.state in (ReprocessRun.State.FAILED, ReprocessRun.State.SKIPPED)
        ],
    }

"""One message, processed once: the orchestrator of tasks A (answer), B (buttons) and C (history).

`message_process` is called by the one Celery task `message_create` publishes after commit
(`hscode.tasks.message_process`), by the recovery sweeper (every message step's handler, config/wiring.py) and by
reprocessing. It reads the message once, analyses it once (or takes the stored analysis, or a repeated question's
cached one), stores the HscodeAnalysisRecord once, with the analysis itself, which every later step reads.

What runs where:

- CPU-only steps that take milliseconds run inline here, in the task that already holds the message: the buttons
  from local data (start, each button, complete: one transaction, one commit), the history record (in that same
  transaction) and the grounded answer (one coalesced delta and the completion: a second transaction, after the
  buttons, so the first button reaches the person first).
- A step that waits on the network is its own task on the `io` queue, published after the analysis is committed,
  so that A and B overlap there: the Context7 lookup and the buttons after it (`hscode.tasks.detail_page_prepare`),
  an answer from an LLM endpoint or with a live 세관장확인 lookup (`chat.tasks.answer_generate`).

Every part is guarded by what is stored (the message's status, its answer's status, task C in its metrics), so a
redelivered task (acks_late) or a re-enqueue by the sweeper emits nothing twice and does only what is missing.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import F

from conversations import contracts
from conversations.events import event_emit
from conversations.models import ChatMessage, MessageStep
from conversations.recovery import publish_after_commit, steps_claim
from conversations.task_metrics import task_metrics_put

from .analysis.analyse import TextAnalysis
from .answer_stream import answer_generate, answer_grounded_put, answer_waits_on_network, grounded_answer_text
from .cache import question_get
from .context7_consult import context7_enabled
from .history import history_put
from .selectors import case_index_key
from .services import (
    CONTEXT7_PENDING,
    analysis_record,
    detail_buttons_announce,
    detail_buttons_local,
    detail_page_build,
    detail_page_estimate_ms,
    message_analyse,
    question_cache_key,
    question_cache_serving,
)
from .stored_analysis import KEY as ANALYSIS_KEY
from .stored_analysis import analysis_dump, stored_analysis

Status = ChatMessage.Status
Step = MessageStep.Step
# The io tasks, by the names queues and the recovery know (hscode/tasks.py defines them and imports this module).
DETAIL_PAGE_PREPARE_TASK = "hscode.tasks.detail_page_prepare"
ANSWER_GENERATE_TASK = "chat.tasks.answer_generate"


def _publish(name: str, message_id: int) -> str:
    publish_after_commit(current_app.tasks[name], message_id)
    return name


@dataclass
class Processed:
    """What one call did: analysed (0 or 1), the steps done inline, the io tasks published."""

    analysed: int = 0
    inline: list[str] = field(default_factory=list)
    published: list[str] = field(default_factory=list)


def _context7_applies(analysis: TextAnalysis) -> bool:
    return context7_enabled() and bool(analysis.product_name or analysis.explicit is not None)


def message_process(message_id: int, *, hops: bool = True) -> Processed:
    """Process the person's message: whatever of its buttons, answer and history is not done yet.

    `hops=False` (reprocessing, already on its own queue) waits on the network here instead of publishing."""
    done = Processed()
    start_iso, started_cpu = contracts.now_iso(), time.process_time()
    message = (
        ChatMessage.objects.select_related("conversation").annotate(answer_status=F("answer__status"))
        .filter(pk=message_id, role=ChatMessage.Role.USER).first()
    )
    if message is None:
        return done
    buttons_due = message.status in (Status.PENDING, Status.ANALYSING)
    answer_due = message.answer_status in (None, Status.STREAMING)
    history_due = "task_c" not in ((message.parallel_task_metrics or {}).get("task_execution") or {})
    if not (buttons_due or answer_due or history_due):
        return done

    # The analysis, once: the stored one, a repeated question's, or the classifier's now.
    session_id = str(message.conversation_id)
    record, cached_buttons, cached_context7 = message.hscode_analysis, None, None
    analysis = stored_analysis(record)
    if record is None:
        case_key = case_index_key()  # read once: for the question's key and for the analysis
        key = question_cache_key(message.content, case_key)
        cached = question_get(key) if buttons_due else None
        if cached is not None and ANALYSIS_KEY in cached["record"]:
            record, cached_buttons = question_cache_serving(cached, session_id)
            cached_context7 = cached.get("context7_analysis")
            analysis = dataclasses.replace(stored_analysis(record), text=message.content)
        else:
            analysed_at, started = contracts.now_iso(), time.monotonic()
            analysis = message_analyse(message.content, case_key=case_key)
            done.analysed = 1
            record = analysis_record(analysis, started_iso=analysed_at, elapsed_ms=0, choice=message.person_choice)
            record["processing_metadata"]["processing_time_ms"] = int((time.monotonic() - started) * 1000)
            record["question_key"] = key
            record[ANALYSIS_KEY] = analysis_dump(analysis)
    elif analysis is None:  # stored before the analysis was kept with the record
        analysis = message_analyse(message.content)
        done.analysed = 1

    fresh = message.status == Status.PENDING and message.hscode_analysis is None
    context7 = buttons_due and fresh and cached_buttons is None and _context7_applies(analysis)
    buttons_inline = buttons_due and fresh and not context7
    answer_io = answer_due and hops and answer_waits_on_network(analysis)
    # Built before the row is locked: they read other tables (and the per-code cache).
    buttons = cached_buttons
    if buttons_inline and buttons is None:
        record["processing_metadata"]["cpu_ms"] = round((time.process_time() - started_cpu) * 1000)
        buttons = detail_buttons_local(record, analysis, session_id)

    steps = [s for s, due in ((Step.BUTTONS, buttons_inline), (Step.HISTORY, history_due),
                              (Step.ANSWER, answer_due and not answer_io)) if due]
    buttons_later = False
    # Committed on its own (one statement): a step that then fails still shows the sweeper it was started.
    steps_claim(message_id, steps, message.created_at)
    with transaction.atomic():
        locked = ChatMessage.objects.locked().get(pk=message_id)
        still_fresh = locked.status == Status.PENDING and locked.hscode_analysis is None
        metrics_changed = history_due and history_put(locked, message.conversation, analysis,
                                                      start_iso=start_iso, started_cpu=started_cpu)
        if metrics_changed:
            done.inline.append("task_c")
        if buttons_inline and still_fresh:
            locked.context7_analysis = cached_context7
            detail_buttons_announce(locked, record, buttons)  # saves the row, task C's metrics with it
            metrics_changed = False
            done.inline.append("task_b")
        elif context7 and still_fresh:
            _context7_begin(locked, record)
            metrics_changed = False
            buttons_later = True
        elif buttons_due and locked.status == Status.ANALYSING:
            buttons_later = True  # left analysing by another path (a pick, an earlier task): finish it step by step
        if metrics_changed:
            locked.save(update_fields=["parallel_task_metrics", "updated_at"])
        if buttons_later and hops and (context7 or _context7_applies(analysis)):
            done.published.append(_publish(DETAIL_PAGE_PREPARE_TASK, message_id))
            buttons_later = False
        if answer_io:
            done.published.append(_publish(ANSWER_GENERATE_TASK, message_id))
    if buttons_later:
        detail_page_build(message_id)
        done.inline.append("task_b")
    if answer_due and not answer_io:
        if hops or not answer_waits_on_network(analysis):
            _answer_inline(message_id, analysis)
        else:  # reprocessing: the network wait happens here
            answer_generate(message_id, analysis)
        done.inline.append("task_a")
    return done


def _context7_begin(message: ChatMessage, record: dict) -> None:
    """The buttons wait for Context7: store the local analysis (marked pending) and announce the start, in the
    caller's transaction (`message` locked, PENDING). The io task refines the record and builds the buttons."""
    record[CONTEXT7_PENDING] = True
    message.status = Status.ANALYSING
    message.hscode_analysis = record
    task_metrics_put(message, "task_b", start_time=contracts.now_iso(), end_time=None, status="running")
    message.save(update_fields=["status", "hscode_analysis", "parallel_task_metrics", "updated_at"])
    event_emit(conversation_id=message.conversation_id, message_id=message.pk, event=contracts.BUTTONS_START,
               data=contracts.buttons_start_data(estimated_ms=detail_page_estimate_ms(), context7_enabled=True,
                                                 cache_checked=settings.DETAIL_CACHE_TTL_S > 0))


def _answer_inline(message_id: int, analysis: TextAnalysis) -> None:
    """The grounded answer, ready at once: one coalesced delta and the completion in one transaction. An answer
    an earlier run began streaming is continued by the streaming writer instead (it announces only the rest)."""
    start_iso, started_cpu = contracts.now_iso(), time.process_time()
    text = grounded_answer_text(analysis)
    with transaction.atomic():
        user = ChatMessage.objects.locked().annotate(answer_id=F("answer__id")).get(pk=message_id)
        assistant = ChatMessage.objects.locked().get(pk=user.answer_id) if user.answer_id is not None else None
        written = answer_grounded_put(user, assistant, text, start_iso=start_iso,
                                      cpu_ms=round((time.process_time() - started_cpu) * 1000))
        if written or assistant is None or assistant.status != Status.STREAMING:
            user.save(update_fields=["parallel_task_metrics", "updated_at"])
            return
    answer_generate(message_id, analysis)

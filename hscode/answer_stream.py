"""Task A: stream the answer to a person's message as coalesced `answer_delta` events.

The grounded answer (no LLM endpoint, no live customs lookup) is CPU-only and ready at once: the orchestrator
(hscode/pipeline.py) writes it inline, one coalesced delta and the completion in one transaction
(`answer_grounded_write`). An answer that waits on the network (an LLM endpoint, a live 세관장확인 lookup) is its
own task on the `io` queue (`answer_generate`), reading the stored analysis.

The answer's text so far lives in the assistant message; each delta is appended in
the same transaction that stores its event. A redelivered task regenerates and
emits only what was not yet announced; if the new text diverges (an LLM is not
deterministic), `answer_complete` carries the whole final text with
`replaced: true`, and clients replace what they showed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from django.conf import settings
from django.db import transaction

from conversations import contracts
from conversations.events import event_emit
from conversations.models import ChatMessage
from conversations.task_metrics import task_metrics_put
from customs.live_services import requirements_service
from customs.services import code_facts_for_answer
from llm_client import LlmConfig, LlmError, chat_completion_stream

from .analysis.analyse import TextAnalysis
from .grounded_answer import grounded_answer, grounded_answer_sections
from .services import message_analyse
from .stored_analysis import stored_analysis

logger = logging.getLogger(__name__)

COALESCE_S = 0.05


def llm_enabled() -> bool:
    """Whether answers come from an OpenAI-compatible endpoint (otherwise: grounded in the analysis)."""
    return settings.LLM_BACKEND == "openai" and bool(settings.LLM_BASE_URL)


def answer_waits_on_network(analysis: TextAnalysis | None = None) -> bool:
    """Whether the answer waits on the network: an LLM endpoint, or a live 세관장확인 lookup for a regulation
    question (without the analysis: whether one could apply). Such an answer is a task of its own on `io`."""
    if llm_enabled():
        return True
    if requirements_service() is None:
        return False
    if analysis is None:
        return True
    return "regulation_inquiry" in (analysis.intent.primary_intent, *analysis.intent.secondary_intents)


def answer_stop_request(conversation_id, message_id: int | None = None) -> list[int]:
    """Ask the running answers of a conversation (or one message's) to stop. Returns the message ids.

    Recorded on the person's message (read by the answer step as it starts) and on the answer being written (read
    by each flush under the row lock it takes anyway), so streaming reads nothing else per delta."""
    unfinished = ChatMessage.objects.filter(conversation_id=conversation_id, role=ChatMessage.Role.USER).exclude(
        answer__status__in=[ChatMessage.Status.COMPLETED, ChatMessage.Status.STOPPED]
    )
    if message_id is not None:
        unfinished = unfinished.filter(pk=message_id)
    ids = list(unfinished.values_list("pk", flat=True))
    if ids:
        ChatMessage.objects.filter(pk__in=ids).update(stop_requested=True)
        ChatMessage.objects.filter(reply_to_id__in=ids, status=ChatMessage.Status.STREAMING).update(
            stop_requested=True)
    return ids


class _DeltaWriter:
    def __init__(self, user: ChatMessage, assistant: ChatMessage):
        self.user = user
        self.assistant = assistant
        self.announced = assistant.content  # text already sent (non-empty only on redelivery)
        self.text = ""
        self.pending = ""
        self.diverged = False
        self.deltas = 0
        self.last_flush = 0.0
        self.last_stop_check = 0.0
        self.stopped = bool(user.stop_requested or assistant.stop_requested)
        # Deltas already announced for this message (non-zero only on redelivery): the next index.
        self.next_index = user.events.filter(event=contracts.ANSWER_DELTA).count() if self.announced else 0

    def feed(self, delta: str) -> bool:
        """Take generated text; returns False once the person asked to stop."""
        self.text += delta
        if self.diverged:
            return not self._stop_requested()
        if len(self.text) <= len(self.announced):
            if not self.announced.startswith(self.text):
                self.diverged = True
            return True
        if not self.text.startswith(self.announced):
            self.diverged = True
            return True
        self.pending = self.text[len(self.announced):]
        if time.monotonic() - self.last_flush >= COALESCE_S:
            return self.flush()
        return True

    def restart(self) -> None:
        """Generate anew. Text already shown stays until answer_complete replaces it (replaced: true)."""
        self.diverged = bool(self.announced)
        self.text = ""
        self.pending = ""

    def _stop_requested(self) -> bool:
        """While diverged nothing is flushed (so no row is locked): the stop is read at most once per interval."""
        now = time.monotonic()
        if not self.stopped and now - self.last_stop_check >= COALESCE_S:
            self.last_stop_check = now
            self.stopped = ChatMessage.objects.filter(pk=self.assistant.pk, stop_requested=True).exists()
        return self.stopped

    def flush(self) -> bool:
        if self.stopped:
            return False
        if not self.pending:
            return True
        with transaction.atomic():
            assistant = ChatMessage.objects.locked().get(pk=self.assistant.pk)
            if assistant.status != ChatMessage.Status.STREAMING or assistant.stop_requested:
                self.stopped = True
                return False
            index = self.next_index
            assistant.content = self.announced + self.pending
            assistant.save(update_fields=["content", "updated_at"])
            event_emit(
                conversation_id=self.user.conversation_id,
                message_id=self.user.pk,
                event=contracts.ANSWER_DELTA,
                data=contracts.answer_delta_data(delta=self.pending, index=index),
            )
        self.announced += self.pending
        self.pending = ""
        self.deltas += 1
        self.next_index += 1
        self.last_flush = time.monotonic()
        return True

    def finish(self, *, backend: str, fallback: bool, metrics: dict) -> str:
        """Complete the answer, and record task A in the same transaction (person's row first, as everywhere)."""
        if not self.stopped and not self.diverged:
            self.flush()
        final = self.announced if self.stopped else self.text
        status = ChatMessage.Status.STOPPED if self.stopped else ChatMessage.Status.COMPLETED
        with transaction.atomic():
            user = ChatMessage.objects.locked().get(pk=self.user.pk)
            assistant = ChatMessage.objects.locked().get(pk=self.assistant.pk)
            if assistant.status != ChatMessage.Status.STREAMING:
                return assistant.status
            if (assistant.stop_requested or user.stop_requested) and not self.stopped:  # asked after the last flush
                self.stopped = True
                final = self.announced
                status = ChatMessage.Status.STOPPED
            assistant.content = final
            assistant.status = status
            assistant.save(update_fields=["content", "status", "updated_at"])
            event_emit(
                conversation_id=self.user.conversation_id,
                message_id=self.user.pk,
                event=contracts.ANSWER_COMPLETE,
                data=contracts.answer_complete_data(content=final, assistant_message_id=assistant.pk,
                                                    stopped=self.stopped, replaced=self.diverged, backend=backend,
                                                    fallback=fallback),
            )
            task_metrics_put(user, "task_a", end_time=contracts.now_iso(), status=status,
                             tokens_generated=len(final.split()), deltas=self.deltas, **metrics)
            user.save(update_fields=["parallel_task_metrics", "updated_at"])
        return status


def _llm_messages(user_text: str, analysis: TextAnalysis) -> list[dict[str, str]]:
    language = "Korean" if analysis.language == "ko" else "English"
    facts = grounded_answer(analysis, code_facts_for_answer)
    return [
        {
            "role": "system",
            "content": (
                "You are a trade-information assistant for Korean exporters and importers. "
                f"Answer in {language}, briefly. Use only the facts below; say plainly what is uncertain; "
                "never invent tariff rates or statistics.\n\nFACTS:\n" + facts
            ),
        },
        {"role": "user", "content": user_text},
    ]


def _feed_all(writer: _DeltaWriter, chunks: Iterable[str]) -> None:
    for chunk in chunks:
        if not writer.feed(chunk):
            return


def _answer_record_if_missing(user: ChatMessage, assistant: ChatMessage) -> bool:
    """A redelivered answer step finds the answer finished. The run that finished it may have died (a worker killed)
    after committing the answer and before recording itself in the message's task metrics: record it then, from
    what was stored, so the metrics still end. Nothing is announced: the answer's events were already sent.
    `user` is locked by the caller, who saves it when this returns True."""
    tasks = (user.parallel_task_metrics or {}).get("task_execution") or {}
    if "task_a" in tasks:
        return False
    iso = lambda moment: moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")  # noqa: E731
    task_metrics_put(user, "task_a", start_time=iso(assistant.created_at), end_time=iso(assistant.updated_at),
                     status=assistant.status, recovered=True)
    return True


def _assistant_streaming(user_message_id: int) -> tuple[ChatMessage | None, ChatMessage | None]:
    """The person's message and its answer row (made here when missing); the answer is None when it has ended."""
    with transaction.atomic():
        user = ChatMessage.objects.locked().filter(pk=user_message_id, role=ChatMessage.Role.USER).first()
        if user is None:
            return None, None
        assistant = ChatMessage.objects.filter(reply_to=user).first()
        if assistant is None:
            assistant = ChatMessage.objects.create(
                reply_to=user, conversation_id=user.conversation_id, role=ChatMessage.Role.ASSISTANT, content="",
                status=ChatMessage.Status.STREAMING, stop_requested=user.stop_requested)
        if assistant.status != ChatMessage.Status.STREAMING:
            if _answer_record_if_missing(user, assistant):
                user.save(update_fields=["parallel_task_metrics", "updated_at"])
            return user, None
    return user, assistant


def answer_generate(user_message_id: int, analysis: TextAnalysis | None = None) -> None:
    """Stream the answer: from the LLM endpoint when one is configured (else, or when it fails, the grounded
    answer), coalesced into `answer_delta` events. Reads the stored analysis (the orchestrator analysed the
    message once); only a message stored before the analysis was kept is analysed here."""
    start_iso, started_cpu = contracts.now_iso(), time.process_time()
    user, assistant = _assistant_streaming(user_message_id)
    if assistant is None:
        return
    analysis = analysis or stored_analysis(user.hscode_analysis) or message_analyse(user.content)
    writer = _DeltaWriter(user, assistant)
    backend, fallback, llm_calls = "grounded", False, 0
    if llm_enabled() and not writer.stopped:
        backend, llm_calls = "openai", 1
        config = LlmConfig(settings.LLM_BASE_URL, settings.LLM_API_KEY, settings.LLM_MODEL,
                           timeout_s=settings.LLM_TIMEOUT_S, max_s=settings.LLM_MAX_S)
        try:
            _feed_all(writer, chat_completion_stream(config, _llm_messages(user.content, analysis)))
        except LlmError as error:
            logger.warning("LLM failed for message %s (%s); answering from the analysis", user.pk, error)
            fallback = True
            writer.restart()
    if (backend == "grounded" or fallback) and not writer.stopped:
        sections = list(grounded_answer_sections(analysis, code_facts_for_answer))
        _feed_all(writer, (s + ("\n\n" if i < len(sections) - 1 else "") for i, s in enumerate(sections)))
    writer.finish(backend=backend, fallback=fallback,
                  metrics={"start_time": start_iso, "llm_calls": llm_calls,
                           "cpu_ms": round((time.process_time() - started_cpu) * 1000)})


def grounded_answer_text(analysis: TextAnalysis) -> str:
    """The grounded answer, whole (what the streamed sections join to)."""
    return "\n\n".join(grounded_answer_sections(analysis, code_facts_for_answer))


def answer_grounded_put(user: ChatMessage, assistant: ChatMessage | None, text: str, *, start_iso: str,
                        cpu_ms: int) -> bool:
    """Write a grounded answer ready at once: one coalesced delta and the completion, in the caller's transaction
    (`user` locked; `assistant` its answer row, locked, or None). Records task A on `user`, which the caller saves
    (parallel_task_metrics). False when there is nothing to write here: the answer ended, or an earlier run
    already announced part of it (then answer_generate continues it)."""
    if assistant is not None and assistant.status != ChatMessage.Status.STREAMING:
        _answer_record_if_missing(user, assistant)
        return False
    if assistant is not None and assistant.content:
        return False
    stopped = user.stop_requested or (assistant is not None and assistant.stop_requested)
    final = "" if stopped else text
    status = ChatMessage.Status.STOPPED if stopped else ChatMessage.Status.COMPLETED
    if final:
        event_emit(conversation_id=user.conversation_id, message_id=user.pk, event=contracts.ANSWER_DELTA,
                   data=contracts.answer_delta_data(delta=final, index=0))
    if assistant is None:  # written finished: the row never shows a half answer
        assistant = ChatMessage.objects.create(
            reply_to=user, conversation_id=user.conversation_id, role=ChatMessage.Role.ASSISTANT, content=final,
            status=status)
    else:
        assistant.content = final
        assistant.status = status
        assistant.save(update_fields=["content", "status", "updated_at"])
    event_emit(conversation_id=user.conversation_id, message_id=user.pk, event=contracts.ANSWER_COMPLETE,
               data=contracts.answer_complete_data(content=final, assistant_message_id=assistant.pk, stopped=stopped,
                                                   replaced=False, backend="grounded", fallback=False))
    task_metrics_put(user, "task_a", start_time=start_iso, end_time=contracts.now_iso(), status=assistant.status,
                     tokens_generated=len(final.split()), deltas=1 if final else 0, llm_calls=0, cpu_ms=cpu_ms)
    return True


def answer_give_up(message: ChatMessage) -> None:
    """The answer step ran out of attempts (conversations/recovery.py): end the answer with the error text.
    Called with the person's message locked, inside the transaction that records the failure."""
    assistant, _ = ChatMessage.objects.get_or_create(
        reply_to=message,
        defaults={"conversation_id": message.conversation_id, "role": ChatMessage.Role.ASSISTANT, "content": "",
                  "status": ChatMessage.Status.STREAMING},
    )
    assistant = ChatMessage.objects.locked().get(pk=assistant.pk)
    if assistant.status != ChatMessage.Status.STREAMING:
        return
    data = contracts.answer_failed_data(assistant_message_id=assistant.pk)
    assistant.status = ChatMessage.Status.FAILED
    assistant.content = data["content"]
    assistant.save(update_fields=["status", "content", "updated_at"])
    event_emit(conversation_id=message.conversation_id, message_id=message.pk, event=contracts.ANSWER_COMPLETE,
               data=data)
    now = contracts.now_iso()
    task_metrics_put(message, "task_a", start_time=now, end_time=now, status="failed")
    message.save(update_fields=["parallel_task_metrics", "updated_at"])

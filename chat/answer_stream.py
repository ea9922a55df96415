"""Task A: stream the answer to a person's message as coalesced `answer_delta` events.

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
from django.core.cache import cache
from django.db import transaction

from conversations import contracts
from conversations.events import event_emit
from conversations.models import ChatMessage
from conversations.recovery import task_metrics_failed_after_commit
from conversations.task_metrics import task_metrics_record
from customs.services import code_facts_for_answer
from hscode.analysis.analyse import TextAnalysis
from hscode.grounded_answer import grounded_answer, grounded_answer_sections
from hscode.services import message_analyse
from llm_client import LlmConfig, LlmError, chat_completion_stream

logger = logging.getLogger(__name__)

COALESCE_S = 0.05


def llm_enabled() -> bool:
    """Whether answers come from an OpenAI-compatible endpoint (otherwise: grounded in the analysis)."""
    return settings.LLM_BACKEND == "openai" and bool(settings.LLM_BASE_URL)


def _stop_key(conversation_id, user_message_id: int) -> str:
    # The conversation's UUID makes the key unique for good, even where message ids are reused.
    return f"answer-stop:{conversation_id}:{user_message_id}"


def answer_stop_request(conversation_id, message_id: int | None = None) -> list[int]:
    """Ask the running answers of a conversation (or one message's) to stop. Returns the message ids."""
    unfinished = ChatMessage.objects.filter(conversation_id=conversation_id, role=ChatMessage.Role.USER).exclude(
        answer__status__in=[ChatMessage.Status.COMPLETED, ChatMessage.Status.STOPPED]
    )
    if message_id is not None:
        unfinished = unfinished.filter(pk=message_id)
    ids = list(unfinished.values_list("pk", flat=True))
    cache.set_many({_stop_key(conversation_id, pk): 1 for pk in ids}, timeout=600)
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
        self.stopped = False
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
        if cache.get(_stop_key(self.user.conversation_id, self.user.pk)):
            self.stopped = True
        return self.stopped

    def flush(self) -> bool:
        if self._stop_requested():
            return False
        if not self.pending:
            return True
        with transaction.atomic():
            assistant = ChatMessage.objects.locked().get(pk=self.assistant.pk)
            if assistant.status != ChatMessage.Status.STREAMING:
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

    def finish(self, *, backend: str, fallback: bool) -> str:
        if not self.stopped and not self.diverged:
            self.flush()
        final = self.announced if self.stopped else self.text
        status = ChatMessage.Status.STOPPED if self.stopped else ChatMessage.Status.COMPLETED
        with transaction.atomic():
            assistant = ChatMessage.objects.locked().get(pk=self.assistant.pk)
            if assistant.status != ChatMessage.Status.STREAMING:
                return assistant.status
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
        cache.delete(_stop_key(self.user.conversation_id, self.user.pk))
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


def _answer_record_if_missing(user: ChatMessage, assistant: ChatMessage) -> None:
    """A redelivered answer task finds the answer finished. The run that finished it may have died (a worker killed)
    after committing the answer and before recording itself in the message's task metrics: record it then, from
    what was stored, so the metrics still end. Nothing is announced: the answer's events were already sent."""
    tasks = (user.parallel_task_metrics or {}).get("task_execution") or {}
    if "task_a" in tasks:
        return
    iso = lambda moment: moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")  # noqa: E731
    task_metrics_record(user.pk, "task_a", start_time=iso(assistant.created_at), end_time=iso(assistant.updated_at),
                        status=assistant.status, recovered=True)


def answer_generate(user_message_id: int) -> None:
    start_iso, started_cpu = contracts.now_iso(), time.process_time()
    with transaction.atomic():
        user = ChatMessage.objects.locked().filter(pk=user_message_id, role=ChatMessage.Role.USER).first()
        if user is None:
            return
        assistant, _ = ChatMessage.objects.get_or_create(
            reply_to=user,
            defaults={"conversation_id": user.conversation_id, "role": ChatMessage.Role.ASSISTANT, "content": "",
                      "status": ChatMessage.Status.STREAMING},
        )
    if assistant.status != ChatMessage.Status.STREAMING:
        _answer_record_if_missing(user, assistant)
        return

    analysis = message_analyse(user.content)
    writer = _DeltaWriter(user, assistant)
    backend, fallback, llm_calls = "grounded", False, 0
    if llm_enabled():
        backend, llm_calls = "openai", 1
        config = LlmConfig(settings.LLM_BASE_URL, settings.LLM_API_KEY, settings.LLM_MODEL,
                           timeout_s=settings.LLM_TIMEOUT_S, max_s=settings.LLM_MAX_S)
        try:
            _feed_all(writer, chat_completion_stream(config, _llm_messages(user.content, analysis)))
        except LlmError as error:
            logger.warning("LLM failed for message %s (%s); answering from the analysis", user.pk, error)
            fallback = True
            writer.restart()
    if backend == "grounded" or fallback:
        sections = list(grounded_answer_sections(analysis, code_facts_for_answer))
        _feed_all(writer, (s + ("\n\n" if i < len(sections) - 1 else "") for i, s in enumerate(sections)))
    status = writer.finish(backend=backend, fallback=fallback)
    task_metrics_record(
        user.pk, "task_a", start_time=start_iso, end_time=contracts.now_iso(), status=status,
        tokens_generated=len(writer.text.split()), deltas=writer.deltas, llm_calls=llm_calls,
        cpu_ms=round((time.process_time() - started_cpu) * 1000),
    )


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
    task_metrics_failed_after_commit(message.pk, "task_a")

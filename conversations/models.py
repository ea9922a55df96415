from __future__ import annotations

import uuid

from django.conf import settings
from django.db import connection, models
from django.db.models import Q

from .contracts import HscodeAnalysisRecord


class Conversation(models.Model):
    """A chat thread owned by a signed-in user or by an anonymous session."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="conversations"
    )
    # An anonymous owner's session key as an HMAC (selectors.session_key_digest), never the key itself.
    owner_session_key = models.CharField(max_length=64, blank=True, default="", db_index=True)
    title = models.CharField(max_length=200, blank=True, default="")
    # Last sequence number handed out to an event of this conversation.
    last_seq = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(owner_user__isnull=False) | ~Q(owner_session_key=""),
                name="conversation_has_owner",
            )
        ]

    def __str__(self) -> str:
        return self.title or str(self.id)


class ChatMessageQuerySet(models.QuerySet):
    def locked(self) -> ChatMessageQuerySet:
        """Rows locked for a state change, and only the message rows.

        On PostgreSQL this is FOR NO KEY UPDATE: inserting an event that references the message
        takes FOR KEY SHARE on it, which NO KEY UPDATE does not block. With a plain FOR UPDATE, a
        button task holding the message and an answer task holding the conversation's seq wait on
        each other (measured: "deadlock detected").
        """
        features = connection.features
        return self.select_for_update(
            no_key=features.has_select_for_no_key_update,
            of=("self",) if features.has_select_for_update_of else (),
        )


class ChatMessage(models.Model):
    class Role(models.TextChoices):
        USER = "user", "user"
        ASSISTANT = "assistant", "assistant"

    class Status(models.TextChoices):
        # A person's message (the buttons track):
        PENDING = "pending", "pending"  # saved, analysis not started
        ANALYSING = "analysing", "analysing"  # detail-page preparation running
        COMPLETED = "completed", "completed"  # all buttons ready / answer finished
        FAILED = "failed", "failed"  # no buttons could be built (e.g. no HS code)
        # An assistant's answer:
        STREAMING = "streaming", "streaming"
        STOPPED = "stopped", "stopped"  # the person pressed stop

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    # An assistant message answers exactly one user message.
    reply_to = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="answer"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    # When the person started waiting for this message's buttons: sent, or reset for reprocessing.
    # The buttons' time budget (and so Context7's share of it) counts from here.
    waiting_since = models.DateTimeField(null=True, blank=True)

    hscode_analysis = models.JSONField(null=True, blank=True)
    context7_analysis = models.JSONField(null=True, blank=True)
    sse_bookmark_data = models.JSONField(null=True, blank=True)
    # The person's own pick among the candidates offered ({"hscode", "confidence", "chosen_at"}): kept apart from
    # staff verdicts (AnalysisReview) and kept through reprocessing.
    person_choice = models.JSONField(null=True, blank=True)
    parallel_task_metrics = models.JSONField(null=True, blank=True)
    detail_page_processing_time = models.PositiveIntegerField(null=True, blank=True, help_text="milliseconds")
    # The person pressed stop: set on their message and on its answer, so the answer step reads it with the row it
    # already reads or locks (no extra read per delta).
    stop_requested = models.BooleanField(default=False)

    objects = ChatMessageQuerySet.as_manager()

    class Meta:
        db_table = "chat_messages"
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["conversation", "created_at"])]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:60]}"

    @property
    def analysis_record(self) -> HscodeAnalysisRecord | None:
        """hscode_analysis, typed (None until analysed). Writers assign `record.serialize()` back."""
        return HscodeAnalysisRecord.parse(self.hscode_analysis)


class MessageStep(models.Model):
    """One processing step of a person's message (buttons, answer, history): how often it was enqueued, and
    when a worker last started it. The recovery sweeper (conversations/recovery.py) reads these to tell a lost task
    from one still waiting in the queue, and to stop after CHAT_STEP_MAX_ATTEMPTS."""

    class Step(models.TextChoices):
        BUTTONS = "buttons", "buttons"
        ANSWER = "answer", "answer"
        HISTORY = "history", "history"

    message = models.ForeignKey(ChatMessage, on_delete=models.CASCADE, related_name="steps")
    step = models.CharField(max_length=16, choices=Step.choices)
    # Times the step was enqueued: 1 when the message was sent, +1 for each re-enqueue by the recovery.
    attempts = models.PositiveIntegerField(default=1)
    queued_at = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)  # a worker last started it
    failed_at = models.DateTimeField(null=True, blank=True)  # given up after the last attempt

    class Meta:
        constraints = [models.UniqueConstraint(fields=["message", "step"], name="message_step_once")]

    def __str__(self) -> str:
        return f"#{self.message_id} {self.step} x{self.attempts}"


class SearchHistory(models.Model):
    """An owner's analysed codes, newest first: the chat page's 'recent searches' (task C writes it)."""

    owner_user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE)
    owner_session_key = models.CharField(max_length=64, blank=True, default="")
    hscode = models.CharField(max_length=20)
    product_name = models.CharField(max_length=200, blank=True, default="")
    message = models.OneToOneField(ChatMessage, on_delete=models.CASCADE, related_name="search_history")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["owner_user", "-created_at"]),
            models.Index(fields=["owner_session_key", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.hscode} {self.product_name}"


class Bookmark(models.Model):
    """A person's saved item ("관심 품목"), made from a message's seed 002 sse_bookmark_data: the chat sidebar lists
    them, newest first."""

    owner_user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE)
    owner_session_key = models.CharField(max_length=64, blank=True, default="")
    bookmark_type = models.CharField(max_length=20)
    target_value = models.CharField(max_length=40)
    display_name = models.CharField(max_length=300, blank=True, default="")
    message = models.ForeignKey(ChatMessage, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["owner_user", "bookmark_type", "target_value"],
                                    condition=Q(owner_user__isnull=False), name="bookmark_once_per_user"),
            models.UniqueConstraint(fields=["owner_session_key", "bookmark_type", "target_value"],
                                    condition=Q(owner_user__isnull=True), name="bookmark_once_per_session"),
        ]

    def __str__(self) -> str:
        return f"{self.bookmark_type} {self.target_value}"


class ConversationEvent(models.Model):
    """Every server event of a conversation, in seq order: the log that replay reads."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveBigIntegerField()
    message = models.ForeignKey(ChatMessage, null=True, blank=True, on_delete=models.CASCADE, related_name="events")
    event = models.CharField(max_length=64)
    data = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["conversation", "seq"]
        constraints = [models.UniqueConstraint(fields=["conversation", "seq"], name="event_seq_unique")]

    def __str__(self) -> str:
        return f"{self.conversation_id} #{self.seq} {self.event}"

    def as_frame(self) -> dict:
        return {"event": self.event, "data": self.data, "message_id": self.message_id, "seq": self.seq}


class AnswerFeedback(models.Model):
    """The owner's 👍/👎 on an assistant's answer, with an optional reason: one per answer, changed in place and
    deleted when withdrawn. A 👎 puts the person's message in the staff review queue (chat/feedback.py)."""

    class Vote(models.TextChoices):
        UP = "up", "👍"
        DOWN = "down", "👎"

    message = models.OneToOneField(ChatMessage, on_delete=models.CASCADE, related_name="feedback")
    vote = models.CharField(max_length=4, choices=Vote.choices, db_index=True)
    reason = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    # When the vote or its reason last changed: a 👎 waits for a staff review made after this.
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(vote__in=["up", "down"]), name="answer_feedback_vote")]

    def __str__(self) -> str:
        return f"#{self.message_id} {self.vote}"

import hashlib

from django.conf import settings
from django.db import models
from django.db.models import Q

from conversations.models import ChatMessage


def case_text_hash(text: str) -> str:
    """Key for duplicate detection: sha256 of the text with whitespace collapsed."""
    return hashlib.sha256(" ".join(text.split()).encode("utf-8")).hexdigest()


class ClassificationCase(models.Model):
    """A labelled example (product text -> HS 6-digit code) for the nearest-neighbour stage."""

    class Source(models.TextChoices):
        IMPORT = "import", "Imported file"
        REVIEW = "review", "Staff review"
        KCS_NAMES = "kcs_names", "KCS trade-name declarations (shipped, 출처: 관세청)"
        KCS_RULING = "kcs_ruling", "KCS classification rulings (shipped, 출처: 관세청)"

    class Lang(models.TextChoices):
        KO = "ko", "Korean"
        EN = "en", "English"

    text = models.TextField()
    # Unique together with hs6; a hash because a unique index on long text fails on PostgreSQL.
    text_hash = models.CharField(max_length=64, editable=False)
    hs6 = models.CharField(max_length=6, db_index=True)
    lang = models.CharField(max_length=2, choices=Lang.choices, default=Lang.EN)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.IMPORT, db_index=True)
    # KCS rulings: the decision's reference id (품목분류2과-5029) and date; shown as "유사 결정사례".
    reference_id = models.CharField(max_length=64, blank=True, default="")
    decision_date = models.DateField(null=True, blank=True)
    hsk10 = models.CharField(max_length=10, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["text_hash", "hs6"], name="classification_case_text_hs6_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.hs6}: {self.text[:60]}"

    def save(self, *args, **kwargs):
        self.text_hash = case_text_hash(self.text)
        super().save(*args, **kwargs)


# Staff reviews and reprocessing of messages' analyses are this package's, but their tables were created by the
# chat app (now the conversations core, which keeps the label "chat"). They keep app_label "chat": same tables,
# content types, permissions and migration history (conversations/migrations), so existing databases migrate
# forward with nothing to do. Only the code moved here, above the core that must not know about HS codes.


class AnalysisReview(models.Model):
    """A staff verdict on a message's HS code analysis. Its label feeds the classifier as a review case."""

    class Verdict(models.TextChoices):
        CORRECT = "correct", "correct"
        WRONG = "wrong", "wrong"

    message = models.ForeignKey(ChatMessage, on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="analysis_reviews"
    )
    verdict = models.CharField(max_length=10, choices=Verdict.choices)
    # What the analysis said when it was reviewed (it may change later through reprocessing).
    detected_hscode = models.CharField(max_length=20, blank=True, default="")
    corrected_hs6 = models.CharField(max_length=6, blank=True, default="", help_text="6 digits, HS 2022")
    # The right 6-digit code: the corrected one, or the detected one when it was correct ("" if unknown).
    label_hs6 = models.CharField(max_length=6, blank=True, default="", db_index=True)
    note = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        app_label = "chat"  # its table, content type and migrations stay the chat app's (see below)
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(verdict="correct") | ~Q(corrected_hs6=""),
                name="analysis_review_wrong_has_correction",
            )
        ]

    def __str__(self) -> str:
        return f"#{self.message_id} {self.verdict} {self.label_hs6}"


class ReprocessRun(models.Model):
    """One message reprocessed under one request: the guard against running twice, and what it replaced."""

    class State(models.TextChoices):
        QUEUED = "queued", "queued"
        RUNNING = "running", "running"
        DONE = "done", "done"
        SKIPPED = "skipped", "skipped"  # the message was busy (its first processing still in flight)
        FAILED = "failed", "failed"

    message = models.ForeignKey(ChatMessage, on_delete=models.CASCADE, related_name="reprocess_runs")
    request_id = models.UUIDField(db_index=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED, db_index=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_via = models.CharField(max_length=20, blank=True, default="")  # command, admin, api
    # Deliveries of this run (a redelivered or repeated task counts; only the first one does the work).
    attempts = models.PositiveIntegerField(default=0)
    previous_status = models.CharField(max_length=16, blank=True, default="")
    previous_hscode = models.CharField(max_length=20, blank=True, default="")
    previous_confidence = models.FloatField(null=True, blank=True)
    # The message's analysis fields as they were before the reset (hscode_analysis, context7_analysis, ...).
    previous = models.JSONField(null=True, blank=True)
    new_status = models.CharField(max_length=16, blank=True, default="")
    new_hscode = models.CharField(max_length=20, blank=True, default="")
    new_confidence = models.FloatField(null=True, blank=True)
    code_changed = models.BooleanField(default=False)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "chat"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["message", "request_id"], name="reprocess_run_once_per_request"),
        ]

    def __str__(self) -> str:
        return f"#{self.message_id} {self.request_id} {self.state}"

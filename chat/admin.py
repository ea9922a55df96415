"""Admin of a person's messages: the operators' review of analyses (filters, timeline, reviews, reprocessing).

Conversations and the event log are the core's (conversations/admin.py); reviews and reprocess runs hscode's
(hscode/admin.py).

Everything shown is rendered through autoescaping templates or format_html: text from
people and from analyses (which quote it) never becomes markup in the admin.
"""

from __future__ import annotations

import json
import re

from django.contrib import admin, messages
from django.db.models import Count, F, OuterRef, Q, Subquery
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce, Substr
from django.template.loader import render_to_string
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from conversations.admin import pretty_json
from conversations.models import AnswerFeedback, ChatMessage, ConversationEvent
from conversations.task_metrics import TASK_NAMES
from hscode.admin import AnalysisReviewInline, ReprocessRunInline, ReviewedFilter
from hscode.models import AnalysisReview
from hscode.reprocessing import OperatorError, code_digits, hscode_q, reprocess_request, review_record

from .feedback import feedback_summary, review_queue_q

JSON_FIELDS = ("hscode_analysis", "context7_analysis", "sse_bookmark_data", "parallel_task_metrics")
CODE_LIKE = re.compile(r"(?i)(hs\s*)?[\d.\-\s]{2,}")


# --- list filters --------------------------------------------------------------------


class SourceFilter(admin.SimpleListFilter):
    title = "analysis source"
    parameter_name = "source"

    def lookups(self, request, model_admin):
        return [("explicit", "explicit (code in the text)"), ("local", "local classifier"), ("context7", "Context7")]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(hscode_analysis__analysis_source=self.value())
        return queryset


class ConfidenceFilter(admin.SimpleListFilter):
    title = "confidence"
    parameter_name = "confidence"
    BANDS = {
        "lt50": ("below 0.50", Q(hscode_analysis__classification_confidence__lt=0.5)),
        "50to80": ("0.50 – 0.79", Q(hscode_analysis__classification_confidence__gte=0.5)
                   & Q(hscode_analysis__classification_confidence__lt=0.8)),
        "80to99": ("0.80 – 0.99", Q(hscode_analysis__classification_confidence__gte=0.8)
                   & Q(hscode_analysis__classification_confidence__lt=1)),
        "certain": ("1.0 (explicit)", Q(hscode_analysis__classification_confidence__gte=1)),
        "none": ("not analysed", Q(hscode_analysis__isnull=True)),
    }

    def lookups(self, request, model_admin):
        return [(key, label) for key, (label, _) in self.BANDS.items()]

    def queryset(self, request, queryset):
        band = self.BANDS.get(self.value() or "")
        return queryset.filter(band[1]) if band else queryset


class FallbackFilter(admin.SimpleListFilter):
    title = "fallback used"
    parameter_name = "fallback"

    def lookups(self, request, model_admin):
        return [("yes", "yes (Context7 failed)"), ("no", "no")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(hscode_analysis__fallback_used=True)
        if self.value() == "no":
            return queryset.filter(hscode_analysis__fallback_used=False)
        return queryset


class ProcessingTimeFilter(admin.SimpleListFilter):
    title = "processing time"
    parameter_name = "processing"
    BANDS = {
        "lt1": ("under 1 s", Q(detail_page_processing_time__lt=1000)),
        "1to3": ("1 – 3 s", Q(detail_page_processing_time__gte=1000, detail_page_processing_time__lt=3000)),
        "3to5": ("3 – 5 s", Q(detail_page_processing_time__gte=3000, detail_page_processing_time__lt=5000)),
        "over5": ("5 s and more (over budget)", Q(detail_page_processing_time__gte=5000)),
        "none": ("not measured", Q(detail_page_processing_time__isnull=True)),
    }

    def lookups(self, request, model_admin):
        return [(key, label) for key, (label, _) in self.BANDS.items()]

    def queryset(self, request, queryset):
        band = self.BANDS.get(self.value() or "")
        return queryset.filter(band[1]) if band else queryset


class DetectedCodeFilter(admin.SimpleListFilter):
    """The most frequent detected headings (4 digits), and 'no code'."""

    title = "detected code (heading)"
    parameter_name = "heading"

    def lookups(self, request, model_admin):
        rows = (
            ChatMessage.objects.filter(role=ChatMessage.Role.USER, hscode_analysis__resolved__code__isnull=False)
            .annotate(heading=Substr(KT("hscode_analysis__resolved__code"), 1, 4))
            .exclude(heading__isnull=True)
            .values("heading")
            .annotate(n=Count("pk"))
            .order_by("-n", "heading")[:25]
        )
        return [("none", "no code detected")] + [(r["heading"], f"{r['heading']} ({r['n']})") for r in rows]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "none":
            return queryset.filter(Q(hscode_analysis__isnull=True) | Q(hscode_analysis__detected_hscode=None))
        if value:
            try:
                return queryset.filter(hscode_q(value))
            except OperatorError:
                return queryset.none()
        return queryset


# A word beside the emoji: an admin's system without an emoji font still says which vote it is.
VOTE_LABELS = {AnswerFeedback.Vote.UP: _("👍 도움 됨"), AnswerFeedback.Vote.DOWN: _("👎 도움 안 됨")}


class FeedbackFilter(admin.SimpleListFilter):
    """The owners' 👍/👎, on the person's message whose answer got it (that is where the analysis is reviewed), and
    the review queue: 👎 that no staff review made after the vote has answered."""

    title = _("답변 평가")
    parameter_name = "feedback"
    QUEUE = "queue"

    def lookups(self, request, model_admin):
        return [(self.QUEUE, _("👎 검토 대기 (검토 큐)")), ("down", VOTE_LABELS["down"]), ("up", VOTE_LABELS["up"]),
                ("none", _("평가 없음"))]

    def queryset(self, request, queryset):
        value = self.value()
        if value == self.QUEUE:
            return queryset.filter(review_queue_q())
        if value in AnswerFeedback.Vote.values:
            return queryset.filter(role=ChatMessage.Role.USER, answer__feedback__vote=value)
        if value == "none":
            return queryset.filter(role=ChatMessage.Role.USER, answer__feedback__isnull=True)
        return queryset


# --- inlines -------------------------------------------------------------------------


# --- conversations and messages -----------------------------------------------------


@admin.register(ChatMessage)
class ChatMessageAdmin(admin.ModelAdmin):
    list_display = ("id", "short_content", "detected_hscode", "confidence", "source", "fallback_used",
                    "processing_time", "status", "review", "feedback_vote", "created_at")
    list_display_links = ("id", "short_content")
    list_filter = ("status", FeedbackFilter, DetectedCodeFilter, ConfidenceFilter, SourceFilter, FallbackFilter,
                   ProcessingTimeFilter, ReviewedFilter, "role", "created_at")
    date_hierarchy = "created_at"
    search_fields = ("content",)
    search_help_text = "Text of the message, or an HS code (8517, 8517.13, 851713) to find what was detected."
    list_per_page = 50
    actions = ["reprocess_selected"]
    inlines = [AnalysisReviewInline, ReprocessRunInline]
    readonly_fields = (
        "conversation", "reply_to", "role", "content", "status", "created_at", "updated_at",
        "detail_page_processing_time", "analysis_summary", "answer_feedback", "event_timeline", "task_metrics",
        *(f"{name}_pretty" for name in JSON_FIELDS),
    )
    fieldsets = (
        (None, {"fields": ("conversation", "reply_to", "role", "content", "status", "created_at", "updated_at")}),
        ("Analysis", {"fields": ("analysis_summary", "detail_page_processing_time")}),
        (_("답변 평가"), {"fields": ("answer_feedback",)}),
        ("Timeline of its events", {"fields": ("event_timeline",)}),
        ("Task metrics", {"fields": ("task_metrics",)}),
        ("Stored JSON (read-only)", {"fields": tuple(f"{name}_pretty" for name in JSON_FIELDS)}),
    )

    def get_queryset(self, request):
        newest = AnalysisReview.objects.filter(message=OuterRef("pk")).order_by("-created_at", "-id")
        return super().get_queryset(request).annotate(
            latest_verdict=Subquery(newest.values("verdict")[:1]),
            # a person's message shows its answer's vote; an answer its own
            vote=Coalesce(F("answer__feedback__vote"), F("feedback__vote")),
        )

    def changelist_view(self, request, extra_context=None):
        summary = feedback_summary()
        extra_context = {**(extra_context or {}), "feedback_summary": summary, "vote_labels": VOTE_LABELS,
                         "feedback_param": FeedbackFilter.parameter_name, "feedback_queue": FeedbackFilter.QUEUE,
                         "satisfaction_percent": None if summary.satisfaction_rate is None
                         else round(summary.satisfaction_rate * 100, 1)}
        return super().changelist_view(request, extra_context)

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        digits = code_digits(term)
        if CODE_LIKE.fullmatch(term) and len(digits) >= 2:
            return queryset.filter(Q(content__icontains=term) | hscode_q(digits)), False
        return super().get_search_results(request, queryset, search_term)

    def has_add_permission(self, request):
        return False  # messages come from conversations

    # --- list columns
    @admin.display(description="content")
    def short_content(self, obj):
        return obj.content[:80]

    @admin.display(description="HS code")
    def detected_hscode(self, obj):
        analysis = obj.analysis_record
        return (analysis and analysis.detected_hscode) or "—"

    @admin.display(description="confidence")
    def confidence(self, obj):
        analysis = obj.analysis_record
        return "—" if analysis is None else f"{analysis.classification_confidence:.2f}"

    @admin.display(description="source")
    def source(self, obj):
        analysis = obj.analysis_record
        return (analysis and analysis.analysis_source) or "—"

    @admin.display(description="fallback", boolean=True)
    def fallback_used(self, obj):
        analysis = obj.analysis_record
        return None if analysis is None else bool(analysis.fallback_used)

    @admin.display(description="time", ordering=F("detail_page_processing_time").asc(nulls_last=True))
    def processing_time(self, obj):
        ms = obj.detail_page_processing_time
        return "—" if ms is None else f"{ms / 1000:.2f} s"

    @admin.display(description="review")
    def review(self, obj):
        return getattr(obj, "latest_verdict", None) or "—"

    @admin.display(description=_("평가"))
    def feedback_vote(self, obj):
        return VOTE_LABELS.get(getattr(obj, "vote", None), "—")

    # --- detail page
    @admin.display(description="analysis")
    def analysis_summary(self, obj):
        analysis = obj.hscode_analysis or None
        return render_to_string(
            "admin/chat/chatmessage/analysis_summary.html",
            {"analysis": analysis, "candidates": (analysis or {}).get("hscode_candidates", [])[:5],
             "processing_ms": obj.detail_page_processing_time},
        )

    @admin.display(description=_("평가"))
    def answer_feedback(self, obj):
        answer = obj if obj.role == ChatMessage.Role.ASSISTANT else ChatMessage.objects.filter(reply_to=obj).first()
        feedback = AnswerFeedback.objects.filter(message=answer).first() if answer is not None else None
        in_queue = obj.role == ChatMessage.Role.USER and ChatMessage.objects.filter(review_queue_q(),
                                                                                   pk=obj.pk).exists()
        return render_to_string("admin/chat/chatmessage/answer_feedback.html",
                                {"feedback": feedback, "answer": answer, "in_queue": in_queue,
                                 "vote_label": VOTE_LABELS.get(feedback.vote) if feedback else None})

    @admin.display(description="events")
    def event_timeline(self, obj):
        events = []
        for event in ConversationEvent.objects.filter(message=obj).order_by("seq"):
            data = event.data or {}
            detail = data.get("buttonType") or data.get("errorCode") or (data.get("summary") or {}).get(
                "hscode_detected") or ""
            events.append({
                "seq": event.seq,
                "event": event.event,
                "detail": detail,
                "created_at": event.created_at,
                "after_ms": max(0, int((event.created_at - obj.created_at).total_seconds() * 1000)),
                "data_text": json.dumps(data, ensure_ascii=False, indent=2),
            })
        return render_to_string("admin/chat/chatmessage/timeline.html", {"events": events})

    @admin.display(description="tasks")
    def task_metrics(self, obj):
        metrics = obj.parallel_task_metrics or {}
        tasks = []
        for key, entry in sorted((metrics.get("task_execution") or {}).items()):
            known = {"name", "start_time", "end_time", "duration_ms", "status"}
            counters = ", ".join(f"{k}={v}" for k, v in entry.items() if k not in known)
            tasks.append({"key": key, "name": entry.get("name") or TASK_NAMES.get(key, ""),
                          "status": entry.get("status"), "duration_ms": entry.get("duration_ms"),
                          "start_time": entry.get("start_time"), "end_time": entry.get("end_time"),
                          "counters": counters})
        return render_to_string("admin/chat/chatmessage/task_metrics.html",
                                {"tasks": tasks, "performance": metrics.get("performance_analysis")})

    @admin.display(description="hscode_analysis")
    def hscode_analysis_pretty(self, obj):
        return pretty_json(obj.hscode_analysis, summary="hscode_analysis")

    @admin.display(description="context7_analysis")
    def context7_analysis_pretty(self, obj):
        return pretty_json(obj.context7_analysis, summary="context7_analysis")

    @admin.display(description="sse_bookmark_data")
    def sse_bookmark_data_pretty(self, obj):
        return pretty_json(obj.sse_bookmark_data, summary="sse_bookmark_data")

    @admin.display(description="parallel_task_metrics")
    def parallel_task_metrics_pretty(self, obj):
        return pretty_json(obj.parallel_task_metrics, summary="parallel_task_metrics")

    # --- reviews are recorded through the service (reviewer, label, classifier case)
    def save_formset(self, request, form, formset, change):
        if formset.model is not AnalysisReview:
            return super().save_formset(request, form, formset, change)
        created = []
        for review_form in formset.forms:
            if review_form.instance.pk or not review_form.has_changed() or not review_form.cleaned_data:
                continue
            data = review_form.cleaned_data
            try:
                review = review_record(message=form.instance, reviewer=request.user, verdict=data["verdict"],
                                       corrected_hs6=data.get("corrected_hs6", ""), note=data.get("note", ""))
            except OperatorError as exc:  # validated by the form already; a race at most
                self.message_user(request, f"review not saved: {exc}", messages.ERROR)
                continue
            created.append(review)
            label = review.label_hs6 or "none (not a 6-digit code)"
            self.message_user(request, f"Review recorded ({review.verdict}); classifier case label: {label}.")
        formset.new_objects, formset.changed_objects, formset.deleted_objects = created, [], []

    # --- actions
    @admin.action(description="Reprocess the selected messages (bulk queue)", permissions=["change"])
    def reprocess_selected(self, request, queryset):
        ids = list(queryset.filter(role=ChatMessage.Role.USER).order_by("pk").values_list("pk", flat=True))
        skipped = queryset.count() - len(ids)
        outcome = reprocess_request(ids, requested_by=request.user, via="admin")
        text = (f"Queued {len(outcome.to_run)} message(s) for reprocessing on the bulk queue "
                f"(request {outcome.request_id}). Connected clients receive the new buttons.")
        if skipped:
            text += f" {skipped} assistant answer(s) skipped: only a person's message is analysed."
        self.message_user(request, text, messages.SUCCESS)


@admin.register(AnswerFeedback)
class AnswerFeedbackAdmin(admin.ModelAdmin):
    """Every vote standing now; the owners set them on the chat page, staff only read them."""

    list_display = ("id", "message_link", "vote_label", "short_reason", "updated_at")
    list_filter = ("vote", "updated_at")
    search_fields = ("reason", "message__content", "message__reply_to__content")
    readonly_fields = ("message", "vote", "reason", "created_at", "updated_at")
    list_select_related = ("message",)

    @admin.display(description=_("답변"))
    def message_link(self, obj):
        question = obj.message.reply_to_id or obj.message_id
        return format_html('<a href="../chatmessage/{}/change/">#{} {}</a>', question, obj.message_id,
                           obj.message.content[:60])

    @admin.display(description=_("평가"), ordering="vote")
    def vote_label(self, obj):
        return VOTE_LABELS.get(obj.vote, obj.vote)

    @admin.display(description=_("이유"))
    def short_reason(self, obj):
        return obj.reason[:80] or "—"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # the owner's to withdraw, on the chat page

"""Admin of the HS analysis: classification cases, staff reviews of analyses, and reprocess runs. A message's page
(chat/admin.py) shows the review and reprocessing inlines defined here."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.utils.html import format_html

from conversations.admin import pretty_json

from .models import AnalysisReview, ClassificationCase, ReprocessRun
from .reprocessing import OperatorError, review_validate


@admin.register(ClassificationCase)
class ClassificationCaseAdmin(admin.ModelAdmin):
    """Labelled cases of the classifier's nearest-neighbour stage (imports and staff reviews)."""

    list_display = ("id", "hs6", "short_text", "lang", "source", "reference_id", "decision_date", "created_at")
    list_filter = ("source", "lang", "created_at")
    search_fields = ("text", "=hs6", "=reference_id")
    readonly_fields = ("text_hash", "created_at")

    @admin.display(description="text")
    def short_text(self, obj):
        return obj.text[:100]


class ReviewedFilter(admin.SimpleListFilter):
    title = "review"
    parameter_name = "review"

    def lookups(self, request, model_admin):
        return [("none", "not reviewed"), ("correct", "reviewed: correct"), ("wrong", "reviewed: wrong")]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "none":
            return queryset.filter(reviews__isnull=True)
        if value in AnalysisReview.Verdict.values:
            return queryset.filter(pk__in=AnalysisReview.objects.filter(verdict=value).values("message_id"))
        return queryset


class ReviewForm(forms.ModelForm):
    corrected_hs6 = forms.CharField(
        label="corrected code", required=False, max_length=32,
        help_text="for a wrong verdict: the HS 2022 subheading, e.g. 8517.13",
    )

    class Meta:
        model = AnalysisReview
        fields = ["verdict", "corrected_hs6", "note"]
        widgets = {"note": forms.Textarea(attrs={"rows": 2, "cols": 50})}

    def clean(self):
        data = super().clean()
        verdict = data.get("verdict")
        if verdict and getattr(self.instance, "message_id", None):
            try:
                corrected, label = review_validate(self.instance.message, verdict, data.get("corrected_hs6", ""))
            except OperatorError as exc:
                raise forms.ValidationError(str(exc)) from exc
            data["corrected_hs6"] = corrected
            self.instance.label_hs6 = label
        return data


class AnalysisReviewInline(admin.TabularInline):
    """Earlier reviews (read-only) and a form for a new one; saving feeds the classifier."""

    model = AnalysisReview
    form = ReviewForm
    fk_name = "message"
    extra = 1
    max_num = None
    can_delete = False
    fields = ("verdict", "corrected_hs6", "note", "label_hs6", "detected_hscode", "reviewer", "created_at")
    readonly_fields = ("label_hs6", "detected_hscode", "reviewer", "created_at")
    verbose_name = "review"
    verbose_name_plural = "reviews (a new one: pick a verdict; 'wrong' needs the corrected code)"

    def has_change_permission(self, request, obj=None):
        return False  # a review is a record: add a new one instead of editing


class ReprocessRunInline(admin.TabularInline):
    model = ReprocessRun
    fk_name = "message"
    extra = 0
    can_delete = False
    fields = ("request_id", "state", "attempts", "previous_hscode", "new_hscode", "code_changed", "requested_via",
              "requested_by", "created_at", "finished_at", "error", "previous_analysis")
    readonly_fields = fields
    verbose_name_plural = "reprocessing history (the analysis before each run is kept here)"

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="previous analysis")
    def previous_analysis(self, obj):
        return pretty_json(obj.previous, summary="before this run")


@admin.register(AnalysisReview)
class AnalysisReviewAdmin(admin.ModelAdmin):
    """All reviews; new ones are recorded on the message's page."""

    list_display = ("id", "message_link", "verdict", "detected_hscode", "corrected_hs6", "label_hs6", "reviewer",
                    "created_at")
    list_filter = ("verdict", "reviewer", "created_at")
    search_fields = ("note", "label_hs6", "detected_hscode", "message__content")
    readonly_fields = ("message", "reviewer", "verdict", "detected_hscode", "corrected_hs6", "label_hs6", "note",
                       "created_at")
    list_select_related = ("message", "reviewer")

    @admin.display(description="message")
    def message_link(self, obj):
        return format_html('<a href="../chatmessage/{}/change/">#{} {}</a>', obj.message_id, obj.message_id,
                           obj.message.content[:60])

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ReprocessRun)
class ReprocessRunAdmin(admin.ModelAdmin):
    list_display = ("id", "message", "request_id", "state", "previous_hscode", "new_hscode", "code_changed",
                    "attempts", "requested_via", "created_at", "finished_at")
    list_filter = ("state", "code_changed", "requested_via", "created_at")
    search_fields = ("=request_id", "message__content", "previous_hscode", "new_hscode")
    readonly_fields = ("message", "request_id", "state", "attempts", "requested_by", "requested_via",
                       "previous_status", "previous_hscode", "previous_confidence", "new_status", "new_hscode",
                       "new_confidence", "code_changed", "error", "created_at", "started_at", "finished_at",
                       "previous_pretty")
    exclude = ("previous",)

    @admin.display(description="previous analysis")
    def previous_pretty(self, obj):
        return pretty_json(obj.previous, summary="the message's fields before this run", open_=True)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

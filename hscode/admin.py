from django.contrib import admin

from .models import ClassificationCase


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

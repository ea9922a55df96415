"""Admin of the conversation core: conversations and their event log.

Everything shown is rendered through autoescaping templates or format_html: text from people and from analyses
(which quote it) never becomes markup in the admin.
"""

from __future__ import annotations

import json

from django.contrib import admin
from django.template.loader import render_to_string

from .models import ChatMessage, Conversation, ConversationEvent


def pretty_json(value, summary: str = "JSON", open_: bool = False) -> str:
    """A JSON value as a collapsible, escaped <details> block."""
    text = None if value is None else json.dumps(value, ensure_ascii=False, indent=2)
    return render_to_string("admin/chat/json_block.html", {"text": text, "summary": summary, "open": open_})


class ChatMessageInline(admin.TabularInline):
    model = ChatMessage
    fields = ("role", "content", "status", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ("id", "title", "owner_user", "created_at", "last_seq")
    search_fields = ("id", "title", "owner_user__username")
    # The owner's session is never shown (it is stored only as an HMAC anyway): only whether there is one.
    readonly_fields = ("id", "owner_user", "anonymous_owner", "last_seq", "created_at", "updated_at")
    exclude = ("owner_session_key",)
    inlines = [ChatMessageInline]

    @admin.display(description="anonymous owner", boolean=True)
    def anonymous_owner(self, obj):
        return obj.owner_user_id is None and bool(obj.owner_session_key)


@admin.register(ConversationEvent)
class ConversationEventAdmin(admin.ModelAdmin):
    list_display = ("conversation", "seq", "event", "message", "created_at")
    list_filter = ("event",)
    readonly_fields = ("conversation", "seq", "event", "message", "data_pretty", "created_at")
    exclude = ("data",)

    @admin.display(description="data")
    def data_pretty(self, obj):
        return pretty_json(obj.data, summary="data", open_=True)

    def has_add_permission(self, request):
        return False

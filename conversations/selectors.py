"""Reads for the chat app. Ownership is checked here, once, for every entry point."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q, QuerySet

from . import contracts
from .models import Bookmark, ChatMessage, Conversation, ConversationEvent, SearchHistory


def session_key_digest(session_key: str) -> str:
    """What is stored for an anonymous owner: an HMAC of the session key, never the key itself.

    Anybody who could read the stored value (the admin, a database dump) cannot present it as a session
    cookie. 64 hex characters, the width of the owner columns.
    """
    if not session_key:
        return ""
    return hmac.new(settings.SESSION_KEY_HMAC_KEY.encode(), session_key.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class Owner:
    """Who is asking: a signed-in user, or an anonymous browser session (its key as the cookie holds it)."""

    user_id: int | None
    session_key: str

    @property
    def is_known(self) -> bool:
        return self.user_id is not None or bool(self.session_key)

    @property
    def session_digest(self) -> str:
        """The value stored in owner_session_key columns."""
        return session_key_digest(self.session_key)


def _owned(owner: Owner) -> QuerySet[Conversation]:
    if owner.user_id is not None:
        return Conversation.objects.filter(owner_user_id=owner.user_id)
    if owner.session_key:
        return Conversation.objects.filter(owner_user__isnull=True, owner_session_key=owner.session_digest)
    return Conversation.objects.none()


def conversation_get_for_owner(conversation_id: str | uuid.UUID, owner: Owner) -> Conversation | None:
    try:
        conversation_uuid = uuid.UUID(str(conversation_id))
    except ValueError:
        return None
    return _owned(owner).filter(pk=conversation_uuid).first()


def conversation_list_for_owner(owner: Owner) -> QuerySet[Conversation]:
    return _owned(owner).order_by("-created_at")


def recent_searches(owner: Owner, limit: int = 20) -> list[SearchHistory]:
    """The owner's last analysed codes, newest first, each code once."""
    if owner.user_id is not None:
        rows = SearchHistory.objects.filter(owner_user_id=owner.user_id)
    elif owner.session_key:
        rows = SearchHistory.objects.filter(owner_user__isnull=True, owner_session_key=owner.session_digest)
    else:
        return []
    seen: dict[str, SearchHistory] = {}
    for row in rows.order_by("-created_at")[: limit * 5]:
        seen.setdefault(row.hscode, row)
        if len(seen) == limit:
            break
    return list(seen.values())


def bookmark_list(owner: Owner, limit: int = 50) -> list[Bookmark]:
    """The owner's saved items (관심 품목), newest first."""
    if owner.user_id is not None:
        rows = Bookmark.objects.filter(owner_user_id=owner.user_id)
    elif owner.session_key:
        rows = Bookmark.objects.filter(owner_user__isnull=True, owner_session_key=owner.session_digest)
    else:
        return []
    return list(rows.order_by("-created_at", "-id")[:limit])


def message_list(conversation: Conversation) -> QuerySet[ChatMessage]:
    return conversation.messages.order_by("created_at", "id")


def conversation_last_seq(conversation_id: uuid.UUID) -> int:
    return Conversation.objects.filter(pk=conversation_id).values_list("last_seq", flat=True).first() or 0


def conversation_snapshot(conversation_id: uuid.UUID) -> tuple[dict, int]:
    """The state of the conversation's unfinished messages, and the log head it is current to."""
    head = conversation_last_seq(conversation_id)
    finished = [ChatMessage.Status.COMPLETED, ChatMessage.Status.FAILED]
    done_answers = [ChatMessage.Status.COMPLETED, ChatMessage.Status.STOPPED]
    unfinished = (
        ChatMessage.objects.filter(conversation_id=conversation_id, role=ChatMessage.Role.USER)
        .filter(Q(~Q(status__in=finished)) | Q(answer__isnull=True) | ~Q(answer__status__in=done_answers))
        .select_related("answer")
        .order_by("created_at", "id")
    )
    messages = []
    for message in unfinished:
        answer = getattr(message, "answer", None)
        messages.append(contracts.snapshot_message(
            message_id=message.pk, content=message.content, status=message.status,
            analysis=contracts.HscodeAnalysisRecord.parse(message.hscode_analysis),
            answer_content=answer.content if answer else None, answer_status=answer.status if answer else None,
        ))
    return contracts.snapshot_data(conversation_id=str(conversation_id), messages=messages), head


def event_list_after(
    conversation_id: uuid.UUID, after_seq: int, up_to_seq: int | None = None, limit: int = 10_000
) -> list[dict]:
    """Stored frames with after_seq < seq (<= up_to_seq), in order."""
    rows = ConversationEvent.objects.filter(conversation_id=conversation_id, seq__gt=after_seq)
    if up_to_seq is not None:
        rows = rows.filter(seq__lte=up_to_seq)
    return [row.as_frame() for row in rows.order_by("seq")[:limit]]

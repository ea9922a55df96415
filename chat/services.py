"""Writes that start work: a conversation, a person's message (one task: hscode/pipeline.py runs tasks A, B and
C), a bookmark. Tasks are enqueued only after commit."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from conversations import contracts
from conversations.events import event_emit
from conversations.models import Bookmark, ChatMessage, Conversation
from conversations.recovery import publish_after_commit
from conversations.selectors import Owner
from hscode.tasks import message_process_task

from .protocol import FrameError, message_text_validate


class OwnerRequired(Exception):
    pass


def conversation_create(*, owner: Owner, title: str = "") -> Conversation:
    if not owner.is_known:
        raise OwnerRequired("a conversation needs a user or a session")
    return Conversation.objects.create(
        owner_user_id=owner.user_id,
        owner_session_key="" if owner.user_id is not None else owner.session_digest,
        title=title[:200],
    )


def message_create(*, conversation: Conversation, text: str) -> ChatMessage:
    """Save a person's message, announce the parallel processing, and start detail-page preparation.

    Raises protocol.FrameError for text that breaks the message rules; nothing is saved then.
    """
    text = message_text_validate(text)
    with transaction.atomic():
        message = ChatMessage.objects.create(
            conversation=conversation, role=ChatMessage.Role.USER, content=text, status=ChatMessage.Status.PENDING,
            waiting_since=timezone.now(),
        )
        if not conversation.title:
            Conversation.objects.filter(pk=conversation.pk, title="").update(title=text[:80])
        event_emit(
            conversation_id=conversation.pk,
            message_id=message.pk,
            event=contracts.MESSAGE_CREATED,
            data=contracts.message_created_data(role=message.role, content=text, created_at=contracts.now_iso()),
        )
        event_emit(
            conversation_id=conversation.pk,
            message_id=message.pk,
            event=contracts.THINKING,
            data=contracts.thinking_data(
                session_uuid=str(conversation.pk),
                user_id=conversation.owner_user_id,
                content="3단계 병렬 처리를 시작합니다: 자연어 응답, 상세페이지 준비, 회원 기록 저장",
            ),
        )
        # Tasks A, B and C start together, once the message is committed (seed 001), in one task: it runs the
        # CPU-only steps inline and sends only network waits to the io queue (hscode/pipeline.py). A publish that
        # fails then is logged and left to the recovery sweeper: the message is saved, the person waits, no resend.
        publish_after_commit(message_process_task, message.pk)
    return message


def bookmark_save(*, conversation: Conversation, message_id: int) -> Bookmark:
    """Save a message's sse_bookmark_data as the conversation owner's 관심 품목 (once per item), and announce it.

    Raises protocol.FrameError when the message is not this conversation's or offers nothing to save.
    """
    with transaction.atomic():
        message = ChatMessage.objects.filter(pk=message_id, conversation=conversation,
                                             role=ChatMessage.Role.USER).first()
        offer = contracts.bookmark_offer(message.sse_bookmark_data if message is not None else None)
        if offer is None:
            raise FrameError("bookmark_unavailable", "이 메시지에는 관심 품목으로 저장할 코드가 없습니다.")
        owner = {"owner_user_id": conversation.owner_user_id} if conversation.owner_user_id is not None else {
            "owner_user_id": None, "owner_session_key": conversation.owner_session_key}
        bookmark, created = Bookmark.objects.get_or_create(
            **owner, bookmark_type=offer["bookmark_type"], target_value=offer["target_value"],
            defaults={"display_name": offer["display_name"][:300], "message": message},
        )
        if created:
            event_emit(conversation_id=conversation.pk, message_id=message.pk, event=contracts.BOOKMARK_SAVED,
                       data=contracts.bookmark_saved_data(**offer))
    return bookmark

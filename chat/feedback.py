"""Answer feedback: the owner's 👍/👎 on an assistant's answer, with an optional reason.

Writes. `answer_feedback_set` stores, changes or withdraws the vote of one answer (one row per answer, unique on
the message) and announces the new state as `answer_feedback` on commit. Only an answer of the caller's own
conversation can be voted on: any other id (another person's answer, a message that does not exist) gets the same
`answer_not_found` refusal, so a stranger learns nothing, and nothing is stored.

Reads. A 👎 puts the person's message (the one the answer replied to) in the staff review queue until a staff
review made after the vote; the summary (counts, satisfaction rate) feeds the admin and /metrics.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from conversations import contracts
from conversations.events import event_emit
from conversations.models import AnswerFeedback, ChatMessage, Conversation
from hscode.models import AnalysisReview

from .protocol import FrameError, feedback_reason_validate

# Answers that are finished: only these can be voted on.
FINISHED_ANSWERS = (ChatMessage.Status.COMPLETED, ChatMessage.Status.STOPPED)


class FeedbackError(FrameError):
    """A vote that cannot be taken; `code` says why (answer_not_found, answer_not_finished, not_an_answer)."""


NOT_FOUND_MESSAGE = "평가할 답변을 찾을 수 없습니다."


@dataclass(frozen=True, slots=True)
class FeedbackOutcome:
    feedback: AnswerFeedback | None  # None: no vote (withdrawn, or there was none)
    changed: bool


def answer_feedback_set(
    *, conversation: Conversation, message_id: int, vote: str | None, reason: str = ""
) -> FeedbackOutcome:
    """Store the owner's vote on an answer of `conversation` (None withdraws it) and announce the change.

    Raises FeedbackError when the id is not an answer of this conversation (`answer_not_found`, whatever the
    reason), is the person's own message (`not_an_answer`), or the answer is still streaming
    (`answer_not_finished`); protocol.FrameError for a bad vote or reason. Repeating the current state changes
    nothing and announces nothing.
    """
    if vote is not None and vote not in contracts.FEEDBACK_VOTES:
        raise FrameError("invalid_vote", 'vote는 "up", "down" 또는 null(평가 취소)이어야 합니다.')
    reason = feedback_reason_validate(reason) if vote is not None else ""
    with transaction.atomic():
        # The answer's row lock serialises two votes on it (two tabs): one row, the last vote wins.
        message = ChatMessage.objects.locked().filter(pk=message_id, conversation=conversation).first()
        if message is None:
            raise FeedbackError("answer_not_found", NOT_FOUND_MESSAGE)
        if message.role != ChatMessage.Role.ASSISTANT:
            raise FeedbackError("not_an_answer", "도우미의 답변에만 평가를 남길 수 있습니다.")
        if message.status not in FINISHED_ANSWERS:
            raise FeedbackError("answer_not_finished", "답변이 끝난 뒤에 평가해 주세요.")
        current = AnswerFeedback.objects.filter(message=message).first()
        if vote is None:
            if current is None:
                return FeedbackOutcome(None, changed=False)
            current.delete()
            feedback = None
        elif current is not None and current.vote == vote and current.reason == reason:
            return FeedbackOutcome(current, changed=False)
        elif current is None:
            feedback = AnswerFeedback.objects.create(message=message, vote=vote, reason=reason)
        else:
            current.vote, current.reason = vote, reason
            current.save(update_fields=["vote", "reason", "updated_at"])
            feedback = current
        event_emit(
            conversation_id=conversation.pk,
            # The frame belongs to the person's message, as the answer's own events do.
            message_id=message.reply_to_id,
            event=contracts.ANSWER_FEEDBACK,
            data=contracts.answer_feedback_data(assistant_message_id=message.pk, vote=vote, reason=reason),
        )
    return FeedbackOutcome(feedback, changed=True)


# --- reads ------------------------------------------------------------------------


def review_queue_q() -> Q:
    """People's messages whose answer got a 👎 that no staff review has answered yet (none made after the vote)."""
    reviewed_since = AnalysisReview.objects.filter(
        message=OuterRef("pk"), created_at__gte=OuterRef("answer__feedback__updated_at")
    )
    return Q(role=ChatMessage.Role.USER, answer__feedback__vote=AnswerFeedback.Vote.DOWN) & ~Exists(reviewed_since)


def review_queue() -> QuerySet[ChatMessage]:
    """The staff review queue's 👎 part, the latest vote first."""
    return ChatMessage.objects.filter(review_queue_q()).order_by("-answer__feedback__updated_at", "-id")


@dataclass(frozen=True, slots=True)
class FeedbackSummary:
    up: int
    down: int
    awaiting_review: int

    @property
    def votes(self) -> int:
        return self.up + self.down

    @property
    def satisfaction_rate(self) -> float | None:
        """Share of 👍 among the votes; None while there are none."""
        return self.up / self.votes if self.votes else None


def feedback_summary() -> FeedbackSummary:
    """The votes standing now, and how many 👎 wait in the review queue."""
    counts = AnswerFeedback.objects.aggregate(up=Count("pk", filter=Q(vote=AnswerFeedback.Vote.UP)),
                             down=Count("pk", filter=Q(vote=AnswerFeedback.Vote.DOWN)))
    return FeedbackSummary(up=counts["up"], down=counts["down"], awaiting_review=review_queue().count())

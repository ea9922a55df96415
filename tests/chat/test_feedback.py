"""Answer feedback, the service: one vote per answer of the owner's own conversation, changeable and withdrawable,
announced as `answer_feedback`; strangers and bad input are refused with nothing stored; a 👎 enters the staff
review queue until a review made after it."""

from __future__ import annotations

import json
from datetime import timedelta

import jsonschema
import pytest
from django.utils import timezone

from chat.feedback import FeedbackError, answer_feedback_set, feedback_summary, review_queue
from chat.protocol import FrameError, frame_parse
from chat.services import conversation_create
from conversations import contracts
from conversations.models import AnswerFeedback, ChatMessage, Conversation, ConversationEvent
from conversations.selectors import Owner
from hscode.models import AnalysisReview

pytestmark = pytest.mark.django_db


def _exchange(conversation: Conversation, text: str = "8517.13 관세율", *, answer_status: str = "completed"):
    """A person's message and its answer, as the tasks leave them."""
    question = ChatMessage.objects.create(conversation=conversation, role="user", content=text, status="completed")
    answer = ChatMessage.objects.create(conversation=conversation, role="assistant", reply_to=question,
                                        content="8517.13은 스마트폰입니다.", status=answer_status)
    return question, answer


@pytest.fixture
def conversation() -> Conversation:
    return conversation_create(owner=Owner(user_id=None, session_key="a" * 32))


@pytest.fixture
def stranger_conversation() -> Conversation:
    return conversation_create(owner=Owner(user_id=None, session_key="b" * 32))


def _feedback_events(conversation: Conversation) -> list[ConversationEvent]:
    return list(ConversationEvent.objects.filter(conversation=conversation, event=contracts.ANSWER_FEEDBACK)
                .order_by("seq"))


def test_a_vote_is_stored_with_the_answer_and_announced_on_the_persons_message(conversation):
    question, answer = _exchange(conversation)
    outcome = answer_feedback_set(conversation=conversation, message_id=answer.pk, vote="down",
                                  reason="  관세율이 틀렸어요  ")
    assert outcome.changed
    stored = AnswerFeedback.objects.get(message=answer)
    assert (stored.vote, stored.reason) == ("down", "관세율이 틀렸어요")
    [event] = _feedback_events(conversation)
    assert event.message_id == question.pk  # the page keys an exchange by the person's message
    jsonschema.validate(event.data, contracts.DATA_SCHEMAS[contracts.ANSWER_FEEDBACK])
    assert event.data["assistant_message_id"] == answer.pk
    assert (event.data["vote"], event.data["reason"]) == ("down", "관세율이 틀렸어요")


def test_one_vote_per_answer_changed_in_place_then_withdrawn(conversation):
    _, answer = _exchange(conversation)
    answer_feedback_set(conversation=conversation, message_id=answer.pk, vote="down", reason="틀림")
    first = AnswerFeedback.objects.get(message=answer)
    answer_feedback_set(conversation=conversation, message_id=answer.pk, vote="up")
    assert AnswerFeedback.objects.filter(message=answer).count() == 1
    changed = AnswerFeedback.objects.get(message=answer)
    assert (changed.pk, changed.vote, changed.reason) == (first.pk, "up", "")

    outcome = answer_feedback_set(conversation=conversation, message_id=answer.pk, vote=None)
    assert outcome.changed and outcome.feedback is None
    assert not AnswerFeedback.objects.filter(message=answer).exists()
    votes = [(e.data["vote"], e.data["reason"]) for e in _feedback_events(conversation)]
    assert votes == [("down", "틀림"), ("up", ""), (None, "")]


def test_repeating_the_standing_vote_changes_and_announces_nothing(conversation):
    _, answer = _exchange(conversation)
    answer_feedback_set(conversation=conversation, message_id=answer.pk, vote="up", reason="좋아요")
    again = answer_feedback_set(conversation=conversation, message_id=answer.pk, vote="up", reason="좋아요 ")
    nothing = answer_feedback_set(conversation=conversation, message_id=answer.pk, vote=None)
    none_again = answer_feedback_set(conversation=conversation, message_id=answer.pk, vote=None)
    assert not again.changed and nothing.changed and not none_again.changed
    assert len(_feedback_events(conversation)) == 2


def test_a_stranger_cannot_vote_and_learns_nothing_whether_the_answer_exists(conversation, stranger_conversation):
    _, answer = _exchange(conversation)
    refusals = []
    for message_id in (answer.pk, answer.pk + 10_000):  # someone else's answer, and no answer at all
        with pytest.raises(FeedbackError) as refused:
            answer_feedback_set(conversation=stranger_conversation, message_id=message_id, vote="down", reason="x")
        refusals.append((refused.value.code, refused.value.message))
    assert refusals[0] == refusals[1] == ("answer_not_found", refusals[0][1])
    assert not AnswerFeedback.objects.exists()
    assert not ConversationEvent.objects.filter(event=contracts.ANSWER_FEEDBACK).exists()


@pytest.mark.parametrize(("target", "status", "code"), [
    ("question", "completed", "not_an_answer"),
    ("answer", "streaming", "answer_not_finished"),
])
def test_only_a_finished_answer_takes_a_vote(conversation, target, status, code):
    question, answer = _exchange(conversation, answer_status=status)
    message = question if target == "question" else answer
    with pytest.raises(FeedbackError) as refused:
        answer_feedback_set(conversation=conversation, message_id=message.pk, vote="up")
    assert refused.value.code == code
    assert not AnswerFeedback.objects.exists()


def test_a_stopped_answer_takes_a_vote(conversation):
    _, answer = _exchange(conversation, answer_status="stopped")
    assert answer_feedback_set(conversation=conversation, message_id=answer.pk, vote="down").changed


@pytest.mark.parametrize(("vote", "reason", "code"), [
    ("meh", "", "invalid_vote"),
    ("down", "가" * (contracts.FEEDBACK_REASON_MAX_CHARS + 1), "reason_too_long"),
    ("down", "a\x00b", "invalid_encoding"),
    ("down", "\ud800", "invalid_encoding"),
    ("down", 7, "invalid_reason"),
])
def test_a_bad_vote_or_reason_is_refused_and_nothing_is_stored(conversation, vote, reason, code):
    _, answer = _exchange(conversation)
    with pytest.raises(FrameError) as refused:
        answer_feedback_set(conversation=conversation, message_id=answer.pk, vote=vote, reason=reason)
    assert refused.value.code == code
    assert not AnswerFeedback.objects.exists() and not _feedback_events(conversation)


def test_a_down_vote_enters_the_review_queue_until_a_later_review(conversation):
    question, answer = _exchange(conversation)
    _, other_answer = _exchange(conversation, "냉동 삼겹살")
    answer_feedback_set(conversation=conversation, message_id=answer.pk, vote="down", reason="코드가 틀림")
    answer_feedback_set(conversation=conversation, message_id=other_answer.pk, vote="up")
    assert list(review_queue()) == [question]

    # A review made before the vote does not answer it.
    old = AnalysisReview.objects.create(message=question, verdict="correct", label_hs6="851713")
    AnalysisReview.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=1))
    assert list(review_queue()) == [question]
    AnalysisReview.objects.create(message=question, verdict="wrong", corrected_hs6="851714", label_hs6="851714")
    assert list(review_queue()) == []

    # Voting 👎 again later (a new reason) brings it back for another look.
    answer_feedback_set(conversation=conversation, message_id=answer.pk, vote="down", reason="아직도 틀림")
    AnswerFeedback.objects.filter(message=answer).update(updated_at=timezone.now() + timedelta(seconds=1))
    assert list(review_queue()) == [question]


def test_the_summary_counts_votes_and_the_satisfaction_rate(conversation):
    assert feedback_summary().satisfaction_rate is None  # no votes: no rate, not 0 %
    answers = [_exchange(conversation, f"질문 {i}")[1] for i in range(4)]
    for answer, vote in zip(answers, ["up", "up", "up", "down"], strict=True):
        answer_feedback_set(conversation=conversation, message_id=answer.pk, vote=vote)
    summary = feedback_summary()
    assert (summary.up, summary.down, summary.votes, summary.awaiting_review) == (3, 1, 4, 1)
    assert summary.satisfaction_rate == pytest.approx(0.75)


# --- the client frame ----------------------------------------------------------------


def test_the_feedback_frame_parses_a_vote_a_reason_and_a_withdrawal():
    frame = frame_parse(json.dumps({"type": "answer.feedback", "message_id": 5, "vote": "down", "reason": " 틀림 "}))
    assert (frame.type, frame.message_id, frame.vote, frame.reason) == ("answer.feedback", 5, "down", "틀림")
    withdrawn = frame_parse(json.dumps({"type": "answer.feedback", "message_id": 5, "vote": None}))
    assert (withdrawn.vote, withdrawn.reason) == (None, "")


BAD_FEEDBACK_FRAMES = {
    "no vote": ({"type": "answer.feedback", "message_id": 5}, "invalid_vote"),
    "unknown vote": ({"type": "answer.feedback", "message_id": 5, "vote": "love"}, "invalid_vote"),
    "vote not a string": ({"type": "answer.feedback", "message_id": 5, "vote": 1}, "invalid_vote"),
    "no message id": ({"type": "answer.feedback", "vote": "up"}, "invalid_frame"),
    "negative id": ({"type": "answer.feedback", "message_id": -1, "vote": "up"}, "invalid_frame"),
    "id as text": ({"type": "answer.feedback", "message_id": "5", "vote": "up"}, "invalid_frame"),
    "reason not text": ({"type": "answer.feedback", "message_id": 5, "vote": "up", "reason": ["x"]},
                        "invalid_reason"),
    "reason too long": ({"type": "answer.feedback", "message_id": 5, "vote": "up", "reason": "x" * 501},
                        "reason_too_long"),
    "reason on a withdrawal": ({"type": "answer.feedback", "message_id": 5, "vote": None, "reason": "x"},
                               "invalid_frame"),
}


@pytest.mark.parametrize("name", BAD_FEEDBACK_FRAMES)
def test_a_bad_feedback_frame_is_refused_with_a_clear_code(name):
    payload, code = BAD_FEEDBACK_FRAMES[name]
    with pytest.raises(FrameError) as refused:
        frame_parse(json.dumps(payload))
    assert refused.value.code == code
    assert refused.value.message


def test_the_contract_offers_the_feedback_frame_and_event_to_the_page():
    client = contracts.client_contract()
    assert client["frames"]["feedback"] == contracts.CLIENT_ANSWER_FEEDBACK
    assert client["events"]["answerFeedback"] == contracts.ANSWER_FEEDBACK
    assert client["feedbackVotes"] == list(contracts.FEEDBACK_VOTES) == AnswerFeedback.Vote.values
    withdrawn = contracts.answer_feedback_data(assistant_message_id=3, vote=None, reason="ignored")
    jsonschema.validate(withdrawn, contracts.DATA_SCHEMAS[contracts.ANSWER_FEEDBACK])
    assert withdrawn["reason"] == ""
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(dict(withdrawn, vote="love"), contracts.DATA_SCHEMAS[contracts.ANSWER_FEEDBACK])

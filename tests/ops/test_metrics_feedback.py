"""/metrics: the owners' 👍/👎 standing now, the satisfaction rate (NaN, not 0, before the first vote) and the
👎 waiting in the staff review queue, read from the database at scrape time."""

from __future__ import annotations

import math

import pytest

from chat.feedback import answer_feedback_set
from chat.services import conversation_create
from conversations.models import ChatMessage
from conversations.selectors import Owner
from hscode.models import AnalysisReview
from tests.ops.test_metrics import _get, _operator_token  # noqa: F401  (the operator token fixture)

pytestmark = pytest.mark.django_db

VOTES = "tradechat_answer_feedback_votes"
RATE = "tradechat_answer_satisfaction_ratio"
QUEUE = "tradechat_answer_feedback_review_queue"


def test_before_any_vote_the_rate_is_unknown_and_the_counts_zero():
    m = _get()
    assert math.isnan(m[(RATE, ())])
    assert m[(VOTES, (("vote", "up"),))] == 0 and m[(VOTES, (("vote", "down"),))] == 0
    assert m[(QUEUE, ())] == 0
    assert m[("tradechat_scrape_section_up", (("section", "feedback"),))] == 1


def test_votes_the_satisfaction_rate_and_the_review_queue_follow_the_stored_votes():
    conversation = conversation_create(owner=Owner(user_id=None, session_key="m" * 32))
    questions, answers = [], []
    for i in range(5):
        question = ChatMessage.objects.create(conversation=conversation, role="user", content=f"질문 {i}",
                                              status="completed")
        questions.append(question)
        answers.append(ChatMessage.objects.create(conversation=conversation, role="assistant", reply_to=question,
                                                  content="답", status="completed"))
    for answer, vote in zip(answers, ["up", "up", "up", "down", "down"], strict=True):
        answer_feedback_set(conversation=conversation, message_id=answer.pk, vote=vote)
    m = _get()
    assert (m[(VOTES, (("vote", "up"),))], m[(VOTES, (("vote", "down"),))]) == (3, 2)
    assert m[(RATE, ())] == pytest.approx(0.6)
    assert m[(QUEUE, ())] == 2

    # A 👎 changed to 👍, and a staff review of the other: the rate follows, the queue empties.
    answer_feedback_set(conversation=conversation, message_id=answers[3].pk, vote="up")
    AnalysisReview.objects.create(message=questions[4], verdict="correct", label_hs6="")
    m = _get()
    assert (m[(VOTES, (("vote", "up"),))], m[(VOTES, (("vote", "down"),))]) == (4, 1)
    assert m[(RATE, ())] == pytest.approx(0.8)
    assert m[(QUEUE, ())] == 0

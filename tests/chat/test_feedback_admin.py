"""Answer feedback in the admin: a summary with the counts and the satisfaction rate, a filter by vote, the review
queue (a 👎 puts the person's message there), and a staff verdict from the queue that corrects the code and joins
the case index as any review does."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from chat.feedback import answer_feedback_set
from chat.services import conversation_create
from conversations.models import ChatMessage
from conversations.selectors import Owner
from hscode.models import AnalysisReview
from tests.chat.test_admin import CHANGELIST, HOSTILE, _analysis, _review_post, added_cases

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(db, django_user_model) -> Client:
    user = django_user_model.objects.create_superuser("operator", "op@example.com", "pw-operator-123")
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def voted() -> dict[str, ChatMessage]:
    """Four exchanges: three answers voted 👍 and one 👎 (with a reason), and one exchange without a vote."""
    conversation = conversation_create(owner=Owner(user_id=None, session_key="v" * 32))
    made = {}
    for key, text, code, vote in [("phone", "8517.13 관세율", "8517.13", "up"),
                                  ("laptop", "노트북 HS 코드", "8471.30", "up"),
                                  ("tv", "텔레비전 수입", "8528.72", "up"),
                                  ("opener", "스테인리스 병따개 HS 코드", "8205.51", "down"),
                                  ("pork", "냉동 삼겹살", "0203.29", None)]:
        question = ChatMessage.objects.create(conversation=conversation, role="user", content=text,
                                              status="completed", hscode_analysis=_analysis(code))
        answer = ChatMessage.objects.create(conversation=conversation, role="assistant", reply_to=question,
                                            content=f"{code} 입니다", status="completed")
        if vote:
            answer_feedback_set(conversation=conversation, message_id=answer.pk, vote=vote,
                                reason=f"병따개가 아니라 주방용품 {HOSTILE}" if vote == "down" else "")
        made[key] = question
    return made


def _listed(client: Client, query: str = "") -> list[int]:
    response = client.get(CHANGELIST + query)
    assert response.status_code == 200, response.content[:500]
    return sorted(m.pk for m in response.context["cl"].result_list)


def _count(body: str, name: str) -> str:
    return re.search(rf'data-count="{name}">([^<]*)<', body).group(1)


def test_the_list_shows_the_votes_counts_and_satisfaction_rate(staff, voted):
    body = staff.get(CHANGELIST).content.decode()
    summary = body[body.index('id="feedback-summary"'):]
    assert (_count(summary, "up"), _count(summary, "down"), _count(summary, "queue")) == ("3", "1", "1")
    assert _count(summary, "satisfaction") == "75.0%"
    assert "👎" in body and "👍" in body  # the vote column


@pytest.mark.parametrize(("query", "expected"), [
    ("?feedback=up", ["phone", "laptop", "tv"]),
    ("?feedback=down", ["opener"]),
    ("?feedback=queue", ["opener"]),
    ("?feedback=none", ["pork"]),
])
def test_the_feedback_filter_narrows_to_the_persons_messages(staff, voted, query, expected):
    assert _listed(staff, query) == sorted(voted[key].pk for key in expected)


def test_a_down_vote_waits_in_the_review_queue_and_a_correcting_verdict_joins_the_case_index(staff, voted):
    opener = voted["opener"]
    url = f"{CHANGELIST}{opener.pk}/change/"
    page = staff.get(url).content.decode()
    assert "병따개가 아니라 주방용품" in page and HOSTILE not in page  # the reason, escaped
    assert 'class="answer-feedback"' in page and "검토 대기" in page

    response = staff.post(url, _review_post(opener, verdict="wrong", corrected_hs6="8210.00", note="from 👎"))
    assert response.status_code == 302, response.content.decode()[-3000:]
    review = AnalysisReview.objects.get(message=opener)
    assert (review.verdict, review.label_hs6) == ("wrong", "821000")
    case = added_cases().get()
    assert (case.text, case.hs6, case.source) == (opener.content, "821000", "review")

    assert _listed(staff, "?feedback=queue") == []  # answered: out of the queue, still a 👎
    assert _listed(staff, "?feedback=down") == [opener.pk]
    body = staff.get(CHANGELIST).content.decode()
    assert _count(body, "queue") == "0" and _count(body, "down") == "1"


def test_votes_are_listed_read_only_with_their_own_filter(staff, voted):
    body = staff.get("/admin/chat/answerfeedback/?vote__exact=down").content.decode()
    assert "병따개가 아니라 주방용품" in body and HOSTILE not in body
    assert staff.get("/admin/chat/answerfeedback/add/").status_code == 403


def test_with_no_votes_the_rate_is_shown_as_unknown_not_zero(staff, db):
    body = staff.get(CHANGELIST).content.decode()
    assert _count(body, "satisfaction") == "—" and _count(body, "up") == "0"

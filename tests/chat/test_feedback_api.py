"""Answer feedback over the REST API: PUT/DELETE /api/messages/<id>/feedback/ for the conversation's owner only,
one vote per answer, visible on the message; strangers (staff included) get the same 404 as for nothing at all;
the vote limit answers 429 with Retry-After."""

from __future__ import annotations

import pytest
from django.test import Client

from conversations.models import AnswerFeedback, ChatMessage, ConversationEvent

pytestmark = pytest.mark.django_db


class Person:
    """A browser: its session, CSRF token and the conversation it owns."""

    def __init__(self):
        self.client = Client(enforce_csrf_checks=True)
        self.token = self.client.get("/").cookies["csrftoken"].value
        self.conversation_id = self.client.post("/api/conversations/", {}, content_type="application/json",
                                                HTTP_X_CSRFTOKEN=self.token).json()["id"]

    def exchange(self, *, answer_status: str = "completed") -> tuple[ChatMessage, ChatMessage]:
        question = ChatMessage.objects.create(conversation_id=self.conversation_id, role="user",
                                              content="8517.13 관세율", status="completed")
        answer = ChatMessage.objects.create(conversation_id=self.conversation_id, role="assistant",
                                            reply_to=question, content="8517.13: 0 %", status=answer_status)
        return question, answer

    def put(self, message_id: int, body, **extra):
        return self.client.put(f"/api/messages/{message_id}/feedback/", body, content_type="application/json",
                               HTTP_X_CSRFTOKEN=self.token, **extra)

    def delete(self, message_id: int):
        return self.client.delete(f"/api/messages/{message_id}/feedback/", HTTP_X_CSRFTOKEN=self.token)


@pytest.fixture
def owner() -> Person:
    return Person()


def test_the_owner_votes_changes_and_withdraws_and_the_message_shows_it(owner):
    _, answer = owner.exchange()
    response = owner.put(answer.pk, {"vote": "down", "reason": "관세율이 틀렸어요"})
    assert response.status_code == 200, response.content
    assert response.json()["vote"] == "down" and response.json()["message"] == answer.pk

    listed = owner.client.get(f"/api/conversations/{owner.conversation_id}/messages/").json()["results"]
    shown = {m["id"]: m["feedback"] for m in listed}
    assert shown[answer.pk]["vote"] == "down" and shown[answer.pk]["reason"] == "관세율이 틀렸어요"
    assert shown[answer.reply_to_id] is None

    assert owner.put(answer.pk, {"vote": "up"}).json()["reason"] == ""
    assert list(AnswerFeedback.objects.values_list("vote", flat=True)) == ["up"]  # one vote, changed
    assert owner.delete(answer.pk).status_code == 204
    assert owner.delete(answer.pk).status_code == 204  # nothing to withdraw is fine
    assert not AnswerFeedback.objects.exists()
    assert owner.client.get(f"/api/messages/{answer.pk}/").json()["feedback"] is None


def test_a_stranger_gets_the_same_404_as_for_a_missing_answer_and_nothing_is_stored(owner, django_user_model):
    _, answer = owner.exchange()
    stranger = Person()
    staff = Person()
    staff_user = django_user_model.objects.create_superuser("staff", "staff@example.com", "staff-pass-123")
    staff.client.force_login(staff_user)
    staff.token = staff.client.get("/").cookies["csrftoken"].value
    for caller in (stranger, staff):
        refusals = [caller.put(message_id, {"vote": "down", "reason": "x"})
                    for message_id in (answer.pk, answer.pk + 10_000)]
        assert [r.status_code for r in refusals] == [404, 404]
        assert refusals[0].json() == refusals[1].json()  # the same words: it may or may not exist
        assert caller.delete(answer.pk).status_code == 404
    assert not AnswerFeedback.objects.exists()
    assert not ConversationEvent.objects.filter(event="answer_feedback").exists()


def test_the_persons_own_message_and_a_streaming_answer_are_conflicts(owner):
    question, _ = owner.exchange()
    _, streaming = owner.exchange(answer_status="streaming")
    for message in (question, streaming):
        response = owner.put(message.pk, {"vote": "up"})
        assert response.status_code == 409
        assert response.json()["code"] in {"not_an_answer", "answer_not_finished"}
    assert not AnswerFeedback.objects.exists()


@pytest.mark.parametrize("body", [
    {}, {"vote": "love"}, {"vote": None}, {"vote": "up", "reason": 5}, {"vote": "up", "reason": "x" * 501},
    {"vote": "up", "reason": "a\u0000b"}, ["up"],
])
def test_a_bad_body_is_a_400_and_stores_nothing(owner, body):
    _, answer = owner.exchange()
    response = owner.put(answer.pk, body)
    assert response.status_code == 400, response.content
    assert not AnswerFeedback.objects.exists()


def test_a_lone_surrogate_in_the_reason_is_a_400_not_a_server_error(owner):
    _, answer = owner.exchange()
    response = owner.client.put(f"/api/messages/{answer.pk}/feedback/", '{"vote": "down", "reason": "\\ud800"}',
                                content_type="application/json", HTTP_X_CSRFTOKEN=owner.token)
    assert response.status_code == 400
    assert "reason" in response.json()
    assert not AnswerFeedback.objects.exists()


def test_without_the_csrf_token_the_vote_is_refused(owner):
    _, answer = owner.exchange()
    response = owner.client.put(f"/api/messages/{answer.pk}/feedback/", {"vote": "up"},
                                content_type="application/json")
    assert response.status_code == 403
    assert not AnswerFeedback.objects.exists()


def test_votes_go_through_the_rate_limit(owner, settings):
    settings.CHAT_RATE_LIMIT_FEEDBACK_SESSION = "3/60"
    _, answer = owner.exchange()
    statuses = [owner.put(answer.pk, {"vote": vote}).status_code for vote in ("up", "down", "up", "down")]
    assert statuses == [200, 200, 200, 429]
    limited = owner.put(answer.pk, {"vote": "down"})
    assert limited.status_code == 429 and int(limited["Retry-After"]) > 0
    assert AnswerFeedback.objects.get().vote == "up"  # the refused votes stored nothing

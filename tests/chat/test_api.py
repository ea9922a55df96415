"""REST contract: owners create and read their conversations; strangers learn nothing; CSRF is enforced."""

from __future__ import annotations

import pytest
from django.test import Client

from conversations.models import ChatMessage, Conversation
from conversations.selectors import session_key_digest

pytestmark = pytest.mark.django_db


def _client_with_csrf() -> tuple[Client, str]:
    client = Client(enforce_csrf_checks=True)
    response = client.get("/")
    assert response.status_code == 200
    return client, response.cookies["csrftoken"].value


def test_chat_page_renders_in_korean_and_sets_the_csrf_cookie():
    client = Client()
    response = client.get("/")
    assert response.status_code == 200
    assert "csrftoken" in response.cookies
    assert '<html lang="ko">' in response.content.decode()
    assert "보내기" in response.content.decode()


def test_anonymous_person_creates_a_conversation_owned_by_their_session():
    client, token = _client_with_csrf()
    response = client.post("/api/conversations/", {}, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 201
    conversation = Conversation.objects.get(pk=response.json()["id"])
    # Stored as an HMAC of the session key, never the key itself.
    assert conversation.owner_session_key == session_key_digest(client.session.session_key)
    assert client.session.session_key not in conversation.owner_session_key
    listed = client.get("/api/conversations/").json()["results"]
    assert [c["id"] for c in listed] == [str(conversation.pk)]


def test_post_without_csrf_token_is_refused_even_for_anonymous_people():
    client, _ = _client_with_csrf()
    response = client.post("/api/conversations/", {}, content_type="application/json")
    assert response.status_code == 403
    assert Conversation.objects.count() == 0


def test_stranger_gets_404_for_someone_elses_messages():
    owner, token = _client_with_csrf()
    conversation_id = owner.post(
        "/api/conversations/", {}, content_type="application/json", HTTP_X_CSRFTOKEN=token
    ).json()["id"]
    ChatMessage.objects.create(conversation_id=conversation_id, role="user", content="비밀 품목")
    stranger, _ = _client_with_csrf()
    response = stranger.get(f"/api/conversations/{conversation_id}/messages/")
    assert response.status_code == 404
    assert "비밀" not in response.content.decode()
    own = owner.get(f"/api/conversations/{conversation_id}/messages/")
    assert own.status_code == 200
    assert own.json()["results"][0]["content"] == "비밀 품목"


def test_signed_in_user_sees_only_their_conversations(django_user_model):
    alice = django_user_model.objects.create_user("alice", password="pw-alice-123")
    bob = django_user_model.objects.create_user("bob", password="pw-bob-123")
    Conversation.objects.create(owner_user=bob, title="bob's")
    client = Client()
    client.force_login(alice)
    client.get("/")
    token = client.cookies["csrftoken"].value
    created = client.post("/api/conversations/", {}, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert created.status_code == 201
    assert [c["id"] for c in client.get("/api/conversations/").json()["results"]] == [created.json()["id"]]

"""The REST API's world for tests: people with sessions and CSRF tokens, staff with the admin's permissions, and
two owners' conversations and messages (pytest fixtures, registered in tests/conftest.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from conversations.models import ChatMessage


def _analysis(code, *, source="local", confidence=0.75, fallback=False) -> dict:
    digits = "".join(ch for ch in code or "" if ch.isdigit())
    return {"detected_hscode": code, "classification_confidence": confidence, "analysis_source": source,
            "resolved": {"code": digits} if code else None, "fallback_used": fallback, "cache_hit": False,
            "language": "ko", "detail_buttons": []}


class Person:
    """A browser: a session (maybe signed in), the CSRF cookie, JSON calls."""

    def __init__(self, user=None):
        self.client = Client(enforce_csrf_checks=True)
        if user is not None:
            self.client.force_login(user)
        self.token = self.client.get("/").cookies["csrftoken"].value

    def get(self, path: str, **params):
        return self.client.get(path, params)

    def post(self, path: str, payload: dict | None = None, csrf: bool = True):
        headers = {"HTTP_X_CSRFTOKEN": self.token} if csrf else {}
        return self.client.post(path, payload or {}, content_type="application/json", **headers)

    def conversation(self) -> str:
        response = self.post("/api/conversations/")
        assert response.status_code == 201, response.content
        return response.json()["id"]


REVIEWER_PERMISSIONS = ("change_chatmessage", "add_analysisreview", "view_analysisreview")


@pytest.fixture
def staff(django_user_model):
    """A staff member with the admin permissions that reviewing and reprocessing need."""
    user = django_user_model.objects.create_user("staff", password="pw-staff-123", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="chat",
                                                         codename__in=REVIEWER_PERMISSIONS))
    return Person(user)


@pytest.fixture
def staff_viewer(django_user_model):
    """Staff who may only look (view permissions, as in the admin)."""
    user = django_user_model.objects.create_user("viewer", password="pw-viewer-123", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="chat",
                                                         codename__in=("view_chatmessage", "view_conversation")))
    return Person(user)


@pytest.fixture
def world(django_user_model):
    """An anonymous owner and a signed-in owner, each with a conversation and messages."""
    anon = Person()
    anon_conversation = anon.conversation()
    alice_user = django_user_model.objects.create_user("alice", password="pw-alice-123")
    alice = Person(alice_user)
    alice_conversation = alice.conversation()
    old = timezone.now() - timedelta(days=30)
    rows = {
        "phone": ChatMessage.objects.create(conversation_id=anon_conversation, role="user", content="8517.13 관세율",
                                            status="completed",
                                            hscode_analysis=_analysis("8517.13", source="explicit", confidence=1.0)),
        "opener": ChatMessage.objects.create(conversation_id=alice_conversation, role="user",
                                             content="스테인리스 병따개", status="completed",
                                             hscode_analysis=_analysis("8205.51", source="context7", confidence=0.62,
                                                                       fallback=True)),
        "pork": ChatMessage.objects.create(conversation_id=alice_conversation, role="user", content="냉동 삼겹살",
                                           status="failed", hscode_analysis=_analysis(None, confidence=0.2)),
    }
    rows["answer"] = ChatMessage.objects.create(conversation_id=anon_conversation, role="assistant", content="답변",
                                                reply_to=rows["phone"], status="completed")
    ChatMessage.objects.filter(pk=rows["pork"].pk).update(created_at=old)
    return {"anon": anon, "anon_conversation": anon_conversation, "alice": alice, "alice_user": alice_user,
            "alice_conversation": alice_conversation, "old": old, **rows}

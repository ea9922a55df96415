"""The documented REST API: who sees what, filters and pagination, staff reviews and reprocessing, the schema."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
import yaml
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from drf_spectacular.validation import validate_schema

from conversations.models import ChatMessage
from hscode.models import AnalysisReview, ClassificationCase, ReprocessRun
from hscode.selectors import SHIPPED_SOURCES

pytestmark = pytest.mark.django_db


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
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("staff", password="pw-staff-123", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="chat",
                                                         codename__in=REVIEWER_PERMISSIONS))
    return Person(user)


@pytest.fixture
def staff_viewer(django_user_model):
    """Staff who may only look (view permissions, as in the admin)."""
    from django.contrib.auth.models import Permission

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


def _ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return sorted(row["id"] for row in response.json()["results"])


# --- permissions -----------------------------------------------------------------


@pytest.mark.parametrize("signed_in", [False, True])
def test_a_stranger_gets_404_for_someone_elses_conversation_and_messages(world, django_user_model, signed_in):
    stranger = Person(django_user_model.objects.create_user("mallory", password="pw-mallory-1")
                      if signed_in else None)
    conversation, phone = world["anon_conversation"], world["phone"]
    for path in (f"/api/conversations/{conversation}/", f"/api/conversations/{conversation}/messages/",
                 f"/api/messages/{phone.pk}/", f"/api/messages/{phone.pk}/reviews/"):
        response = stranger.get(path)
        assert response.status_code == 404, path
        assert "8517" not in response.content.decode()
    assert stranger.post(f"/api/messages/{phone.pk}/reviews/", {"verdict": "correct"}).status_code == 404
    assert stranger.post(f"/api/messages/{phone.pk}/reviews/", {"verdict": "??"}).status_code == 404
    assert stranger.post(f"/api/messages/{phone.pk}/reprocess/").status_code == 404
    assert stranger.get("/api/conversations/").json()["results"] == []
    assert stranger.get("/api/messages/").json()["results"] == []
    assert stranger.get("/api/reviews/").status_code == 403
    assert AnalysisReview.objects.count() == 0 and ReprocessRun.objects.count() == 0


def test_owners_see_their_own_and_nothing_else(world):
    anon, alice = world["anon"], world["alice"]
    assert [c["id"] for c in anon.get("/api/conversations/").json()["results"]] == [world["anon_conversation"]]
    assert [c["id"] for c in anon.get("/api/conversations/", mine="true").json()["results"]] == [
        world["anon_conversation"]]
    assert _ids(anon.get("/api/messages/")) == sorted([world["phone"].pk, world["answer"].pk])
    assert _ids(alice.get("/api/messages/")) == sorted([world["opener"].pk, world["pork"].pk])
    message = alice.get(f"/api/messages/{world['opener'].pk}/").json()
    assert message["hscode_analysis"]["detected_hscode"] == "8205.51"
    assert message["conversation"] == world["alice_conversation"]
    assert alice.get(f"/api/messages/{world['phone'].pk}/").status_code == 404


def test_staff_see_every_conversation_and_message(world, staff):
    own = staff.conversation()
    listed = {c["id"] for c in staff.get("/api/conversations/").json()["results"]}
    assert listed == {world["anon_conversation"], world["alice_conversation"], own}
    assert [c["id"] for c in staff.get("/api/conversations/", mine="true").json()["results"]] == [own]
    assert staff.get(f"/api/conversations/{world['anon_conversation']}/").status_code == 200
    assert _ids(staff.get(f"/api/conversations/{world['alice_conversation']}/messages/")) == sorted(
        [world["opener"].pk, world["pork"].pk])
    assert len(_ids(staff.get("/api/messages/"))) == 4


def test_owners_may_not_review_or_reprocess_their_own_messages(world):
    alice, opener = world["alice"], world["opener"]
    assert alice.get(f"/api/messages/{opener.pk}/reviews/").status_code == 403
    assert alice.post(f"/api/messages/{opener.pk}/reviews/", {"verdict": "correct"}).status_code == 403
    assert alice.post(f"/api/messages/{opener.pk}/reviews/", {"verdict": "??"}).status_code == 403
    assert alice.post(f"/api/messages/{opener.pk}/reprocess/").status_code == 403
    assert alice.get("/api/reviews/").status_code == 403
    assert AnalysisReview.objects.count() == 0


def test_staff_without_change_permission_get_403_from_review_and_reprocess(world, staff_viewer):
    phone = world["phone"]
    assert staff_viewer.get(f"/api/messages/{phone.pk}/").status_code == 200  # they may look
    assert staff_viewer.post(f"/api/messages/{phone.pk}/reviews/", {"verdict": "correct"}).status_code == 403
    assert staff_viewer.post(f"/api/messages/{phone.pk}/reprocess/").status_code == 403
    assert staff_viewer.get(f"/api/messages/{phone.pk}/reviews/").status_code == 403
    assert staff_viewer.get("/api/reviews/").status_code == 403
    assert AnalysisReview.objects.count() == 0 and ReprocessRun.objects.count() == 0


def test_existing_creation_still_needs_the_csrf_token(world):
    assert world["anon"].post("/api/conversations/", csrf=False).status_code == 403


# --- filters and pagination ----------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "failed"}, ["pork"]),
        ({"status": ["failed", "completed"], "role": "user"}, ["phone", "opener", "pork"]),
        ({"role": "assistant"}, ["answer"]),
        ({"hscode": "8517"}, ["phone"]),
        ({"hscode": "8205.51"}, ["opener"]),
        ({"source": "context7"}, ["opener"]),
        ({"fallback_used": "true"}, ["opener"]),
        ({"fallback_used": "false"}, ["phone", "pork"]),
        ({"confidence_below": "0.7"}, ["opener", "pork"]),
        ({"confidence_min": "0.7"}, ["phone"]),
        ({"reviewed": "true"}, ["opener"]),
    ],
)
def test_messages_filter_by_status_code_source_fallback_confidence_and_review(world, staff, params, expected):
    AnalysisReview.objects.create(message=world["opener"], verdict="correct", label_hs6="820551")
    assert _ids(staff.get("/api/messages/", **params)) == sorted(world[k].pk for k in expected)


def test_messages_filter_by_creation_time(world, staff):
    cutoff = (world["old"] + timedelta(days=1)).isoformat()
    assert _ids(staff.get("/api/messages/", created_before=cutoff)) == [world["pork"].pk]
    assert world["pork"].pk not in _ids(staff.get("/api/messages/", created_after=cutoff))


def test_an_unusable_code_filter_is_a_400_not_a_crash(world, staff):
    response = staff.get("/api/messages/", hscode="x")
    assert response.status_code == 400 and "hscode" in response.json()


def test_lists_are_paginated_with_limit_and_offset(world, staff):
    first = staff.get("/api/messages/", limit=2).json()
    assert first["count"] == 4 and len(first["results"]) == 2 and "offset=2" in first["next"]
    rest = staff.get("/api/messages/", limit=2, offset=2).json()
    assert {r["id"] for r in first["results"]}.isdisjoint({r["id"] for r in rest["results"]})
    assert rest["next"] is None


@pytest.mark.parametrize("query", [{"offset": "null"}, {"offset": "-1"}, {"limit": "0"}, {"limit": "101"},
                                   {"limit": "100000000"}, {"reviewed": "maybe"}, {"hscode": ""},
                                   {"confidence_min": "2"}, {"hscod": "85"}])
def test_a_query_the_schema_does_not_allow_is_a_400_naming_the_parameter(world, staff, query):
    response = staff.get("/api/messages/", **query)
    assert response.status_code == 400 and set(query) <= set(response.json()), response.content


@pytest.mark.parametrize("value", ["0154-08-15T12:00:29+19:14", "2026-11-29T09:00:00-23:59"])
def test_a_date_time_with_any_iso_offset_is_compared_in_utc(world, staff, value):
    response = staff.get("/api/reviews/", created_before=value)
    assert response.status_code == 200, response.content


def test_a_date_time_beyond_the_calendar_is_a_400(world, staff):
    response = staff.get("/api/messages/", created_after="0001-01-01T00:00:00+01:00")
    assert response.status_code == 400 and "created_after" in response.json()


def test_an_unknown_api_path_is_a_json_404(staff):
    response = staff.get("/api/no-such-thing/")
    assert response.status_code == 404 and response.json() == {"detail": "Not found."}


# --- staff reviews and reprocessing ----------------------------------------------------


def test_staff_review_through_the_api_feeds_a_review_case(world, staff):
    opener = world["opener"]
    response = staff.post(f"/api/messages/{opener.pk}/reviews/",
                          {"verdict": "wrong", "corrected_hs6": "8210.00", "note": "hand tool"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["verdict"], body["corrected_hs6"], body["label_hs6"], body["reviewer"]) == (
        "wrong", "821000", "821000", "staff")
    assert body["detected_hscode"] == "8205.51"
    assert ClassificationCase.objects.filter(source="review", hs6="821000", text=opener.content).exists()
    assert [r["id"] for r in staff.get(f"/api/messages/{opener.pk}/reviews/").json()["results"]] == [body["id"]]
    listed = staff.get("/api/reviews/", verdict="wrong").json()
    assert listed["count"] == 1 and listed["results"][0]["message"] == opener.pk
    assert staff.get("/api/reviews/", verdict="correct").json()["count"] == 0


@pytest.mark.parametrize(
    ("payload", "status", "reason"),
    [({"verdict": "wrong", "corrected_hs6": "9999.99"}, 422, "chapter 99"),
     ({"verdict": "wrong"}, 422, "needs the corrected"),
     ({"verdict": "maybe"}, 400, "verdict"),
     ({"verdict": "wrong", "corrected_hs6": 821000}, 400, "corrected_hs6")],
)
def test_an_invalid_review_is_refused_with_the_reason(world, staff, payload, status, reason):
    """400: not a review at all (the schema says so); 422: a well-formed review that does not fit."""
    response = staff.post(f"/api/messages/{world['opener'].pk}/reviews/", payload)
    assert response.status_code == status and reason in response.content.decode()
    assert AnalysisReview.objects.count() == 0 and added_cases().count() == 0


def test_a_review_of_an_answer_is_a_conflict(world, staff):
    response = staff.post(f"/api/messages/{world['answer'].pk}/reviews/", {"verdict": "correct"})
    assert response.status_code == 409 and "only a person's message" in response.json()["detail"]
    assert AnalysisReview.objects.count() == 0


def test_staff_reprocess_through_the_api_is_queued_once_per_request_id(world, staff,
                                                                          django_capture_on_commit_callbacks):
    phone = world["phone"]
    request_id = "6f1c1c8e-3a41-4d59-9a53-3b7f1f1f0c01"
    with django_capture_on_commit_callbacks(execute=False) as enqueued:
        first = staff.post(f"/api/messages/{phone.pk}/reprocess/", {"request_id": request_id})
    assert first.status_code == 202, first.content
    assert (first.json()["state"], first.json()["request_id"]) == ("queued", request_id)
    assert len(enqueued) == 1
    ReprocessRun.objects.filter(pk=first.json()["id"]).update(state="done")
    with django_capture_on_commit_callbacks(execute=False) as again:
        second = staff.post(f"/api/messages/{phone.pk}/reprocess/", {"request_id": request_id})
    assert second.json()["id"] == first.json()["id"] and second.json()["state"] == "done"
    assert again == [] and ReprocessRun.objects.count() == 1
    assert staff.post(f"/api/messages/{world['answer'].pk}/reprocess/").status_code == 409


# --- the schema and its pages -----------------------------------------------------------


def test_the_openapi_schema_validates_and_documents_every_endpoint_and_the_sse_stream():
    response = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json() if response["Content-Type"].startswith("application/vnd.oai.openapi+json") \
        else yaml.safe_load(response.content)
    validate_schema(schema)  # drf-spectacular's OpenAPI 3 JSON Schema validation
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    for path in ("/api/conversations/", "/api/conversations/{conversation_id}/",
                 "/api/conversations/{conversation_id}/messages/", "/api/messages/", "/api/messages/{message_id}/",
                 "/api/messages/{message_id}/reviews/", "/api/messages/{message_id}/reprocess/", "/api/reviews/"):
        assert path in paths, path
    stream = paths["/api/conversations/{conversation_id}/events"]["get"]
    assert "text/event-stream" in stream["responses"]["200"]["content"]
    assert "/ws/chat/{conversation_id}/" in schema["info"]["description"]
    params = {p["name"] for p in paths["/api/messages/"]["get"]["parameters"]}
    assert {"hscode", "source", "status", "confidence_below", "fallback_used", "limit", "offset"} <= params
    assert "cookieAuth" in schema["components"]["securitySchemes"]


def test_schema_generation_has_no_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"),
                 stderr=io.StringIO())
    assert yaml.safe_load((tmp_path / "schema.yml").read_text())["info"]["title"]


@pytest.mark.parametrize(("page", "asset"), [
    ("/api/docs/", "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"),
    ("/api/redoc/", "drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js"),
])
def test_swagger_ui_and_redoc_are_served_from_local_static_files(page, asset):
    client = Client()
    body = client.get(page).content.decode()
    assert f"/static/{asset}" in body
    external = re.findall(r"""(?:src|href)=["'](https?:)?//""", body)
    assert external == [], "the page loads something from another host"
    assert client.get(f"/static/{asset}").status_code == 200


def added_cases():
    """Cases beyond the shipped KCS corpora (which the test database holds, as on first start)."""
    return ClassificationCase.objects.exclude(source__in=SHIPPED_SOURCES)

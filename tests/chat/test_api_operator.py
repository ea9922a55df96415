"""The documented REST API: who sees what, filters and pagination, the schema (reviews and reprocessing:
tests/hscode/test_api.py)."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
import yaml
from django.core.management import call_command
from django.test import Client
from drf_spectacular.validation import validate_schema

from hscode.models import AnalysisReview, ReprocessRun
from tests.support.api_world import Person

pytestmark = pytest.mark.django_db


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

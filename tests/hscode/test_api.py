"""The staff REST API of analysis reviews and reprocessing: who may, what it records, what it refuses."""

from __future__ import annotations

import pytest

from hscode.models import AnalysisReview, ClassificationCase, ReprocessRun
from hscode.selectors import SHIPPED_SOURCES

pytestmark = pytest.mark.django_db


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


def added_cases():
    """Cases beyond the shipped KCS corpora (which the test database holds, as on first start)."""
    return ClassificationCase.objects.exclude(source__in=SHIPPED_SOURCES)

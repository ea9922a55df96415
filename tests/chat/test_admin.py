"""The admin as operators use it: filters and search over analyses, an escaped detail page with the event
timeline and task metrics, staff reviews that feed the classifier, and the reprocess action."""

from __future__ import annotations

import time
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.utils import timezone

from conversations import contracts
from conversations.models import ChatMessage, Conversation, ConversationEvent
from hscode.models import AnalysisReview, ClassificationCase, ReprocessRun
from hscode.selectors import SHIPPED_SOURCES
from hscode.services import detail_button_ready, detail_page_prepare

CHANGELIST = "/admin/chat/chatmessage/"
HOSTILE = '<script>alert("owned")</script>'


def _analysis(code, *, source="local", confidence=0.75, fallback=False, product="") -> dict:
    digits = "".join(ch for ch in code or "" if ch.isdigit())
    return {
        "detected_hscode": code,
        "product_name": product,
        "classification_confidence": confidence,
        "analysis_source": source,
        "resolved": {"code": digits, "display": code} if code else None,
        "hscode_candidates": [{"code": code, "confidence": confidence, "source": source, "description": product}]
        if code else [],
        "fallback_used": fallback,
        "cache_hit": False,
        "language": "ko",
        "detail_buttons": [],
    }


@pytest.fixture
def admin_client_logged_in(db, django_user_model) -> Client:
    user = django_user_model.objects.create_superuser("operator", "op@example.com", "pw-operator-123")
    client = Client()
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def messages(db) -> dict[str, ChatMessage]:
    conversation = Conversation.objects.create(owner_session_key="admin-test")

    def make(key, text, status, analysis, ms=None, age_days=0):
        message = ChatMessage.objects.create(conversation=conversation, role="user", content=text, status=status,
                                             hscode_analysis=analysis, detail_page_processing_time=ms)
        if age_days:
            ChatMessage.objects.filter(pk=message.pk).update(created_at=timezone.now() - timedelta(days=age_days))
        return key, message

    made = dict([
        make("phone", "8517.13 관세율 알려줘", "completed", _analysis("8517.13", source="explicit", confidence=1.0),
             ms=420),
        make("opener", "스테인리스 병따개 HS 코드", "completed",
             _analysis("8205.51", source="context7", confidence=0.62, fallback=True), ms=6200),
        make("pork", "냉동 삼겹살 수입", "failed", _analysis(None, confidence=0.2), ms=1500, age_days=40),
        make("pending", "방금 보낸 질문", "pending", None),
    ])
    return made


def _listed(client: Client, query: str = "") -> list[int]:
    response = client.get(CHANGELIST + query)
    assert response.status_code == 200, response.content[:500]
    return sorted(m.pk for m in response.context["cl"].result_list)


def test_the_list_shows_code_confidence_source_fallback_time_status_and_review(admin_client_logged_in, messages):
    AnalysisReview.objects.create(message=messages["phone"], verdict="correct", label_hs6="851713")
    body = admin_client_logged_in.get(CHANGELIST).content.decode()
    for header in ("HS code", "confidence", "source", "fallback", "time", "status", "review"):
        assert f">{header}<" in body or f">{header.capitalize()}<" in body, header
    assert "8517.13" in body and "1.00" in body and "explicit" in body and "0.42 s" in body
    assert "8205.51" in body and "0.62" in body and "context7" in body and "6.20 s" in body
    assert "icon-yes.svg" in body  # the fallback column of the Context7 failure
    assert ">correct<" in body
    by_time = admin_client_logged_in.get(CHANGELIST + "?o=7")  # sorted by processing time, unmeasured last
    assert [m.pk for m in by_time.context["cl"].result_list][:3] == [
        messages["phone"].pk, messages["pork"].pk, messages["opener"].pk]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?source=explicit", ["phone"]),
        ("?source=context7", ["opener"]),
        ("?confidence=lt50", ["pork"]),
        ("?confidence=50to80", ["opener"]),
        ("?confidence=certain", ["phone"]),
        ("?confidence=none", ["pending"]),
        ("?fallback=yes", ["opener"]),
        ("?fallback=no", ["phone", "pork"]),
        ("?processing=lt1", ["phone"]),
        ("?processing=1to3", ["pork"]),
        ("?processing=over5", ["opener"]),
        ("?processing=none", ["pending"]),
        ("?status__exact=failed", ["pork"]),
        ("?heading=8517", ["phone"]),
        ("?heading=none", ["pork", "pending"]),
        ("?review=wrong", ["opener"]),
        ("?review=none", ["phone", "pork", "pending"]),
    ],
)
def test_each_filter_narrows_the_list(admin_client_logged_in, messages, query, expected):
    AnalysisReview.objects.create(message=messages["opener"], verdict="wrong", corrected_hs6="821000",
                                  label_hs6="821000")
    assert _listed(admin_client_logged_in, query) == sorted(messages[k].pk for k in expected)


def test_the_date_filter_and_hierarchy_narrow_by_creation_day(admin_client_logged_in, messages):
    since = timezone.localtime() - timedelta(days=7)
    recent = _listed(admin_client_logged_in, "?" + urlencode({"created_at__gte": since.isoformat()}))
    assert recent == sorted(messages[k].pk for k in ("phone", "opener", "pending"))
    old = timezone.localtime(ChatMessage.objects.get(pk=messages["pork"].pk).created_at)
    hierarchy = _listed(admin_client_logged_in, f"?created_at__year={old.year}&created_at__month={old.month}"
                                                f"&created_at__day={old.day}")
    assert messages["pork"].pk in hierarchy and messages["phone"].pk not in hierarchy


def test_the_heading_filter_offers_the_detected_headings(admin_client_logged_in, messages):
    body = admin_client_logged_in.get(CHANGELIST).content.decode()
    assert "?heading=8517" in body and "?heading=8205" in body and "no code detected" in body


@pytest.mark.parametrize(
    ("term", "expected"),
    [("병따개", ["opener"]), ("8517.13", ["phone"]), ("851713", ["phone"]), ("HS 8205", ["opener"]),
     ("삼겹살", ["pork"])],
)
def test_search_finds_messages_by_text_and_by_detected_code(admin_client_logged_in, messages, term, expected):
    assert _listed(admin_client_logged_in, f"?q={term}") == sorted(messages[k].pk for k in expected)


def test_the_detail_page_shows_json_collapsible_read_only_and_escaped(admin_client_logged_in, db):
    conversation = Conversation.objects.create(owner_session_key="xss")
    message = ChatMessage.objects.create(
        conversation=conversation, role="user", content=f"{HOSTILE} 스마트폰", status="completed",
        hscode_analysis=_analysis("8517.13", product=f'<img src=x onerror="alert(1)">{HOSTILE}'),
        context7_analysis={"analysis_results": {"extracted_insights": [HOSTILE]}},
    )
    response = admin_client_logged_in.get(f"{CHANGELIST}{message.pk}/change/")
    body = response.content.decode()
    assert response.status_code == 200
    assert HOSTILE not in body and "<img src=x" not in body
    assert "&lt;script&gt;alert(" in body and "&lt;img src=x onerror=" in body
    assert body.count("<details") >= 2 and "<summary>hscode_analysis</summary>" in body
    assert "<summary>context7_analysis</summary>" in body
    # read-only: no input carries the JSON fields
    for field in ("hscode_analysis", "context7_analysis", "sse_bookmark_data", "parallel_task_metrics"):
        assert f'name="{field}"' not in body


def test_the_detail_page_shows_the_messages_own_event_timeline_and_task_metrics(admin_client_logged_in, db,
                                                                                  settings):
    settings.DETAIL_CACHE_TTL_S = 0
    conversation = Conversation.objects.create(owner_session_key="timeline")
    message = ChatMessage.objects.create(conversation=conversation, role="user", content="8517.13 관세율")
    other = ChatMessage.objects.create(conversation=conversation, role="user", content="HS 0203.29")
    for target in (message, other):
        for button_type in detail_page_prepare(target.pk):
            detail_button_ready(target.pk, button_type)

    body = admin_client_logged_in.get(f"{CHANGELIST}{message.pk}/change/").content.decode()

    timeline = body[body.index('class="event-timeline"'):body.index("</table>", body.index('class="event-timeline"'))]
    own = list(ConversationEvent.objects.filter(message=message).order_by("seq"))
    assert [e.event for e in own] == [contracts.BUTTONS_START, *[contracts.BUTTON_READY] * 3,
                                      contracts.BUTTONS_COMPLETE]
    for event in own:
        assert f"<td>{event.seq}</td>" in timeline
    for event in ConversationEvent.objects.filter(message=other):
        assert f"<td>{event.seq}</td>" not in timeline
    assert "HS_CODE" in timeline and "REGULATION" in timeline and "STATISTICS" in timeline and " ms</td>" in timeline
    assert 'class="task-metrics"' in body and "detail_page_preparation" in body and "completed" in body


def _review_post(message: ChatMessage, **review) -> dict:
    data = {
        "reviews-TOTAL_FORMS": "1", "reviews-INITIAL_FORMS": "0", "reviews-MIN_NUM_FORMS": "0",
        "reviews-MAX_NUM_FORMS": "1000",
        "reviews-0-id": "", "reviews-0-message": str(message.pk),
        "reprocess_runs-TOTAL_FORMS": "0", "reprocess_runs-INITIAL_FORMS": "0",
        "reprocess_runs-MIN_NUM_FORMS": "0", "reprocess_runs-MAX_NUM_FORMS": "1000",
        "_continue": "Save and continue editing",
    }
    data.update({f"reviews-0-{k}": v for k, v in review.items()})
    return data


def test_staff_record_a_wrong_verdict_with_a_corrected_code_that_feeds_a_review_case(admin_client_logged_in,
                                                                                     messages):
    opener = messages["opener"]
    url = f"{CHANGELIST}{opener.pk}/change/"
    response = admin_client_logged_in.post(url, _review_post(opener, verdict="wrong", corrected_hs6="8210.00",
                                                            note="a hand-operated appliance"))
    assert response.status_code == 302, response.content.decode()[-3000:]

    review = AnalysisReview.objects.get(message=opener)
    assert (review.verdict, review.corrected_hs6, review.label_hs6) == ("wrong", "821000", "821000")
    assert review.reviewer == admin_client_logged_in.user and review.detected_hscode == "8205.51"
    assert review.note == "a hand-operated appliance"
    case = added_cases().get()
    assert (case.text, case.hs6, case.source) == (opener.content, "821000", "review")
    page = admin_client_logged_in.get(url).content.decode()
    assert "821000" in page and "a hand-operated appliance" in page  # shown read-only afterwards
    cases = admin_client_logged_in.get("/admin/hscode/classificationcase/?source__exact=review").content.decode()
    assert "821000" in cases


def test_a_correct_verdict_labels_the_case_with_the_detected_code(admin_client_logged_in, messages):
    phone = messages["phone"]
    response = admin_client_logged_in.post(f"{CHANGELIST}{phone.pk}/change/", _review_post(phone, verdict="correct"))
    assert response.status_code == 302
    assert AnalysisReview.objects.get(message=phone).label_hs6 == "851713"
    assert added_cases().get().hs6 == "851713"


@pytest.mark.parametrize(
    ("review", "error"),
    [
        ({"verdict": "wrong", "corrected_hs6": "9999.99"}, "chapter 99"),
        ({"verdict": "wrong", "corrected_hs6": "8517.99"}, "does not exist in HS 2022"),
        ({"verdict": "wrong", "corrected_hs6": "8517"}, "6-digit"),
        ({"verdict": "wrong", "corrected_hs6": ""}, "needs the corrected"),
        ({"verdict": "correct", "corrected_hs6": "8517.13"}, "takes no corrected code"),
    ],
)
def test_an_invalid_review_is_refused_with_the_reason(admin_client_logged_in, messages, review, error):
    phone = messages["phone"]
    response = admin_client_logged_in.post(f"{CHANGELIST}{phone.pk}/change/", _review_post(phone, **review))
    assert response.status_code == 200
    assert error in response.content.decode()
    assert AnalysisReview.objects.count() == 0 and added_cases().count() == 0


def test_reviews_and_runs_are_records_not_edited_in_the_admin(admin_client_logged_in, messages):
    review = AnalysisReview.objects.create(message=messages["phone"], verdict="correct", label_hs6="851713")
    assert admin_client_logged_in.get("/admin/chat/analysisreview/add/").status_code == 403
    assert admin_client_logged_in.get("/admin/chat/reprocessrun/add/").status_code == 403
    page = admin_client_logged_in.get(f"/admin/chat/analysisreview/{review.pk}/change/").content.decode()
    assert 'name="verdict"' not in page


@pytest.mark.integration
def test_the_reprocess_action_queues_the_selection_and_the_live_worker_runs_it(live, django_user_model, settings):
    settings.DETAIL_CACHE_TTL_S = 0
    user = django_user_model.objects.create_superuser("action-operator", "a@example.com", "pw-operator-123")
    client = Client()
    client.force_login(user)
    conversation = Conversation.objects.create(owner_user=user)
    message = ChatMessage.objects.create(conversation=conversation, role="user", content="8517.13 관세율")
    for button_type in detail_page_prepare(message.pk):
        detail_button_ready(message.pk, button_type)
    answer = ChatMessage.objects.create(conversation=conversation, role="assistant", content="답변",
                                        reply_to=message, status="completed")
    events_before = ConversationEvent.objects.filter(message=message).count()

    response = client.post(CHANGELIST, {"action": "reprocess_selected", "_selected_action": [message.pk, answer.pk]},
                           follow=True)

    body = response.content.decode()
    assert "Queued 1 message(s) for reprocessing on the bulk queue" in body
    assert "1 assistant answer(s) skipped" in body
    run = ReprocessRun.objects.get(message=message)
    assert run.requested_via == "admin" and run.requested_by == user
    # By state, with a generous outer bound: the bulk queue is served after whatever the live worker still holds.
    deadline = time.monotonic() + 120
    while run.state != ReprocessRun.State.DONE:
        assert time.monotonic() < deadline, f"the worker did not finish the run: {run.state}"
        time.sleep(0.2)
        run.refresh_from_db()
    new_events = list(ConversationEvent.objects.filter(message=message).order_by("seq")[events_before:])
    assert [e.event for e in new_events] == [contracts.BUTTONS_START, *[contracts.BUTTON_READY] * 3,
                                             contracts.BUTTONS_COMPLETE]
    page = client.get(f"{CHANGELIST}{message.pk}/change/").content.decode()
    assert "reprocessing history" in page.lower() and str(run.request_id) in page and "before this run" in page


def added_cases():
    """Cases beyond the shipped KCS corpora (which the test database holds, as on first start)."""
    return ClassificationCase.objects.exclude(source__in=SHIPPED_SOURCES)


def test_an_anonymous_owners_session_key_is_stored_as_an_hmac_and_never_shown(admin_client_logged_in):
    from chat.services import conversation_create
    from conversations.selectors import Owner, conversation_get_for_owner

    raw = "k" * 32  # a session key as the browser's cookie holds it
    conversation = conversation_create(owner=Owner(user_id=None, session_key=raw))
    stored = Conversation.objects.get(pk=conversation.pk).owner_session_key
    assert raw not in stored and len(stored) == 64
    assert conversation_get_for_owner(conversation.pk, Owner(user_id=None, session_key=raw)) is not None
    assert conversation_get_for_owner(conversation.pk, Owner(user_id=None, session_key=stored)) is None
    page = admin_client_logged_in.get(f"/admin/chat/conversation/{conversation.pk}/change/").content.decode()
    assert raw not in page and stored not in page
    assert "anonymous owner" in page.lower()

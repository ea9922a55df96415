"""Detail pages resolve real codes, show where standards come from, and refuse unknown codes with suggestions."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from conversations.models import ChatMessage, Conversation

pytestmark = pytest.mark.django_db


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_hscode_detail_shows_the_hierarchy_and_national_digits():
    response = Client().get("/detail/hscode/8517.13-0000/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "smartphones" in body.lower()
    assert "Machinery and mechanical appliances" in body  # section XVI
    assert "/detail/hscode/85/" in body and "/detail/hscode/8517/" in body
    assert "8517.13-0000" in body and "HSK" in body


def test_hscode_detail_lists_sibling_subheadings():
    body = Client().get("/detail/hscode/8517.13/").content.decode()
    assert "같은 호(8517)의 다른 소호" in body
    assert "/detail/hscode/8517.14/" in body and "/detail/hscode/8517.62/" in body


def test_chapter_and_heading_pages_resolve_from_the_breadcrumb_links():
    chapter = Client().get("/detail/hscode/72/")
    assert chapter.status_code == 200
    assert "Iron and steel" in chapter.content.decode()
    assert "같은 부(제XV부)의 다른 류" in chapter.content.decode()
    heading = Client().get("/detail/hscode/0901/")
    assert heading.status_code == 200 and "/detail/hscode/0901.11/" in heading.content.decode()


def test_lookup_form_redirects_to_the_code_page():
    response = Client().get("/detail/hscode/", {"code": "851713"})
    assert response.status_code == 302 and response["Location"] == "/detail/hscode/8517.13/"


def test_cbam_code_shows_cbam_brought_in_by_chapter_72():
    detail = _text(Client().get("/detail/hscode/7208.51/").content.decode())
    assert "CBAM" in detail and "상위 코드 72에 표시되어 그 아래 모든 코드에 적용" in detail
    response = Client().get("/regulation", {"hscode": "7208.51", "country": "ALL"})
    body = _text(response.content.decode())
    assert response.status_code == 200
    assert "Regulation (EU) 2023/956" in body
    start = body.index("탄소국경조정제도 (CBAM)")
    cbam_row = body[start:body.index("EU 산림전용방지규정 (EUDR)", start)]
    assert "적용" in cbam_row and "72에서 적용" in cbam_row and "Iron and steel" in cbam_row


def test_coffee_code_shows_eudr_brought_in_by_heading_0901():
    response = Client().get("/regulation", {"hscode": "0901.11"})
    body = _text(response.content.decode())
    eudr_row = body[body.index("EU 산림전용방지규정 (EUDR)"):body.index("EU 목재규정 (EUTR)")]
    assert "0901에서 적용" in eudr_row and "Coffee, whether or not roasted" in eudr_row
    assert "https://eur-lex.europa.eu/eli/reg/2023/1115/oj" in response.content.decode()
    detail = _text(Client().get("/detail/hscode/0901.11/").content.decode())
    assert "EUDR" in detail and "상위 코드 0901에 표시되어" in detail


def test_wood_code_shows_eutr_at_heading_and_eudr_at_chapter():
    body = _text(Client().get("/regulation", {"hscode": "4403.11"}).content.decode())
    assert "44에서 적용" in body and "4403에서 적용" in body


def test_country_filter_says_which_standards_affect_that_jurisdiction():
    germany = _text(Client().get("/regulation", {"hscode": "7208.51", "country": "de"}).content.decode())
    assert "DE에서 이 코드에 영향을 주는 표준" in germany and "DE 포함" in germany
    korea = _text(Client().get("/regulation", {"hscode": "7208.51", "country": "KR"}).content.decode())
    assert "모두 EU 규정이라 KR에는 적용되지 않습니다" in korea and "KR 제외" in korea
    odd = _text(Client().get("/regulation", {"hscode": "7208.51", "country": "<b>"}).content.decode())
    assert "알 수 없는 국가 코드라 전체(ALL)를 표시합니다" in odd


def test_unknown_code_gives_404_with_nearest_codes():
    response = Client().get("/detail/hscode/8517.99/")
    body = response.content.decode()
    assert response.status_code == 404
    assert "8517.79" in body and "/detail/hscode/8517.79/" in body
    assert "8517.99 소호는 HS 2022에 없습니다" in body


def test_reserved_chapter_gives_404_with_neighbouring_chapters():
    response = Client().get("/detail/hscode/77/")
    body = response.content.decode()
    assert response.status_code == 404
    assert "유보된 류" in body
    assert "/detail/hscode/76/" in body and "/detail/hscode/78/" in body


def test_regulation_page_names_the_parent_that_brings_cbam_in():
    response = Client().get("/regulation", {"hscode": "7208.51"})
    body = response.content.decode()
    assert response.status_code == 200
    assert "CBAM" in body
    assert "Regulation (EU) 2023/956" in body


def test_statistics_page_is_honest_when_nothing_is_loaded(settings, django_user_model):
    settings.KCS_NITEMTRADE_KEY = ""
    response = Client().get("/statistics", {"hscode": "8517.13"})
    body = response.content.decode()
    assert response.status_code == 200
    # A visitor reads in plain words that nothing is loaded and nothing is connected; no operator command.
    assert "관세청 수출입실적 서비스가 연결되어 있지 않아" in body
    assert "import_trade_statistics" not in body and "manage.py" not in body
    staff = django_user_model.objects.create_user("ops", password="x", is_staff=True)
    client = Client()
    client.force_login(staff)
    assert "import_trade_statistics" in client.get("/statistics", {"hscode": "8517.13"}).content.decode()


def test_hostile_code_in_the_url_is_escaped():
    response = Client().get("/regulation", {"hscode": "<script>alert(1)</script>"})
    assert response.status_code == 404
    assert "<script>alert(1)" not in response.content.decode()


# --- English -----------------------------------------------------------------------------------

def test_english_page_via_the_language_cookie():
    client = Client()
    client.cookies["django_language"] = "en"
    body = client.get("/detail/hscode/7208.51/").content.decode()
    assert '<html lang="en">' in body
    assert "HS 2022 classification" in body and "Regulatory standards that apply" in body
    assert "HS 2022 분류 체계" not in body


def test_english_page_via_the_set_language_view_without_javascript():
    client = Client()
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/regulation?hscode=0901.11"})
    assert response.status_code == 302 and response["Location"] == "/regulation?hscode=0901.11"
    body = client.get(response["Location"]).content.decode()
    assert "EU Deforestation Regulation (EUDR)" in body
    assert "Applies" in body and "Official text" in body
    assert "Placing cattle, cocoa, coffee" in body  # the standard's English summary from the reference data
    back = client.post("/i18n/setlang/", {"language": "ko", "next": "/regulation?hscode=0901.11"})
    assert "표준별 적용 여부" in client.get(back["Location"]).content.decode()


def test_english_404_page():
    client = Client()
    client.cookies["django_language"] = "en"
    response = client.get("/detail/hscode/8517.99/")
    assert response.status_code == 404
    body = response.content.decode()
    assert "HS code not found" in body and "Nearby codes" in body and "8517.79" in body


def test_korean_is_the_default_language():
    body = Client().get("/detail/hscode/7208.51/").content.decode()
    assert '<html lang="ko">' in body and "HS 2022 분류 체계" in body


# --- staff-only recent questions -------------------------------------------------------------------

@pytest.fixture
def questions_about_smartphones():
    conversation = Conversation.objects.create(owner_session_key="page-test-session")
    asked = ChatMessage.objects.create(
        conversation=conversation,
        role=ChatMessage.Role.USER,
        content="아이폰 15 프로 수입할 때 HS 8517.13-0000 맞나요?",
        status=ChatMessage.Status.COMPLETED,
        hscode_analysis={"detected_hscode": "8517.13-0000", "classification_confidence": 1.0},
    )
    ChatMessage.objects.create(
        conversation=conversation,
        role=ChatMessage.Role.USER,
        content="열연강판 7208.51 CBAM 대상인가요?",
        hscode_analysis={"detected_hscode": "7208.51", "classification_confidence": 1.0},
    )
    return asked


def test_staff_see_the_recent_questions_that_led_to_the_code(questions_about_smartphones):
    staff = get_user_model().objects.create_user("reviewer", password="x", is_staff=True)
    client = Client()
    client.force_login(staff)
    body = client.get("/detail/hscode/8517.13/").content.decode()
    assert "이 코드로 이어진 최근 질문" in body
    assert "아이폰 15 프로 수입할 때" in body
    assert f"/admin/chat/chatmessage/{questions_about_smartphones.pk}/change/" in body
    assert "열연강판" not in body  # another code's question
    chapter = client.get("/detail/hscode/85/").content.decode()
    assert "아이폰 15 프로 수입할 때" in chapter  # the chapter page includes codes under it


def test_anonymous_and_non_staff_people_do_not_see_recent_questions(questions_about_smartphones):
    anonymous = Client().get("/detail/hscode/8517.13/")
    assert "아이폰 15 프로" not in anonymous.content.decode()
    assert "이 코드로 이어진 최근 질문" not in anonymous.content.decode()
    assert "private" in anonymous["Cache-Control"]
    member = get_user_model().objects.create_user("member", password="x")
    client = Client()
    client.force_login(member)
    assert "아이폰 15 프로" not in client.get("/detail/hscode/8517.13/").content.decode()


def test_pages_need_no_javascript():
    for url in ("/detail/hscode/7208.51/", "/regulation?hscode=7208.51", "/statistics?hscode=7208.51",
                "/detail/hscode/9999/"):
        assert "<script" not in Client().get(url).content.decode(), url

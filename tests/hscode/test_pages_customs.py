"""The HS page names codes in Korean from the 관세청 HSK table, lists the HSK lines with units and their rates."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command
from django.test import Client

from tests.support.kcs_files import hsk_row, sample_tariff_rows, write_hsk_csv, write_tariff_xlsx

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("shipped_data")]


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _page(url: str, language: str = "ko") -> tuple[int, str]:
    client = Client()
    client.cookies["django_language"] = language
    response = client.get(url)
    return response.status_code, _text(response.content.decode())


@pytest.fixture
def rates_loaded(tmp_path):
    path = write_tariff_xlsx(tmp_path / "관세청_품목번호별 관세율표.xlsx", {"Sheet1": sample_tariff_rows()})
    call_command("import_tariff_rates", str(path), "--no-progress")
    return path


def test_smartphone_subheading_is_named_in_korean_with_its_path_and_hsk_line():
    status, body = _page("/detail/hscode/8517.13/")
    assert status == 200
    assert "HS 8517.13 스마트폰" in body
    assert "제85류 › 제8517호 › 소호 8517.13 › HSK 8517.13-0000 스마트폰" in body
    assert "8517.13-0000 스마트폰 (스마트폰) U / KG" in body  # the HSK line with its units
    assert "관세청 HS부호표(2025년판)" in body and "출처: 관세청" in body


def test_pork_subheading_lists_both_hsk_lines_and_names_the_bare_other_line():
    status, body = _page("/detail/hscode/0203.29/")
    assert status == 200
    assert "삼겹살 · 기타(삼겹살 외)" in body
    assert "0203.29-1000 삼겹살" in body and "0203.29-9000 기타(삼겹살 외)" in body
    assert "HSK 10단위 2개" in body


def test_without_a_rate_file_the_page_says_so_and_links_the_official_portal():
    client = Client()
    html = client.get("/detail/hscode/8517.13/").content.decode()
    body = _text(html)
    assert "관세청 관세율표 파일이 적재되어 있지 않아 관세율을 표시하지 않습니다." in body
    assert "관세법령정보포털(UNI-PASS)에서 8517.13-0000의 세율 확인" in body
    assert 'href="https://unipass.customs.go.kr/clip/index.do"' in html


def test_after_import_each_hsk_line_shows_basic_wto_and_fta_rates_with_source_and_date(rates_loaded):
    status, body = _page("/detail/hscode/0203.29/")
    assert status == 200
    pork_row = body[body.index("0203.29-1000 삼겹살"):body.index("0203.29-9000 기타")]
    assert "25%" in pork_row and "22.5%" in pork_row
    assert "4건, 최저 0%" in pork_row and "한ㆍ중국 FTA협정세율(선택1) (FCN1): 18.8%" in pork_row
    other_row = body[body.index("0203.29-9000 기타"):]
    assert "한ㆍ베트남 FTA협정세율(선택1) (FVN1): 4.5%" in other_row
    assert "기준 적용 세율 · 출처: 관세청 관세율표 (관세청_품목번호별 관세율표.xlsx" in body
    assert "적재되어 있지 않아" not in body


def test_english_page_shows_english_hsk_names_and_rate_type_names(rates_loaded):
    status, body = _page("/detail/hscode/0203.29/", "en")
    assert status == 200
    assert "0203.29-1000 Streaky pork" in body and "Other (not Streaky pork)" in body
    assert "Korea–China FTA rate (option 1) (FCN1): 18.8%" in body
    assert "Source: Korea Customs Service tariff schedule" in body
    assert "기본세율" not in body


def test_typed_hsk_code_is_checked_against_the_newest_edition():
    status, body = _page("/detail/hscode/8517.13-0000/")
    assert status == 200 and '한국 HSK 10단위 세번 "스마트폰"' in body

    status, body = _page("/detail/hscode/8517.13-9999/")
    assert status == 404
    assert "HSK 8517.13-9999은(는) 최신 관세청 HS부호표(2025년판)에 없는 10단위 코드입니다." in body
    assert "가까운 HSK 10단위 세번" in body and "8517.13-0000 — 스마트폰" in body


def test_a_code_dropped_by_a_newer_edition_says_so(tmp_path):
    rows = [hsk_row("0203291000", "삼겹살", "Streaky pork", valid_to="2026-12-31"),
            hsk_row("0203299000", "기타", "Other", valid_to="2026-12-31")]
    call_command("import_hsk", str(write_hsk_csv(tmp_path / "hsk2026.csv", rows)), "--no-progress")

    status, body = _page("/detail/hscode/0203.22-0000/")

    assert status == 404
    assert "2025년판 관세청 HS부호표에는 있었으나 최신 2026년판에서 삭제되었습니다" in body
    assert "0203.29-1000 — 삼겹살" in body


def test_regulation_and_statistics_pages_name_the_code_in_korean():
    for url in ("/regulation?hscode=0203.29&country=ALL", "/statistics?hscode=8517.13"):
        status, body = _page(url)
        assert status == 200
        assert ("삼겹살 · 기타(삼겹살 외)" if "0203" in url else "스마트폰") in body
        assert "한글 품목명 출처: 관세청 HS부호표" in body
    status, body = _page("/regulation?hscode=0203.29&country=ALL", "en")
    assert "삼겹살" not in body and "Meat; of swine" in body


def test_sibling_and_child_subheadings_are_named_in_korean_beside_the_hs_text():
    status, body = _page("/detail/hscode/8517.14/")
    assert status == 200 and "8517.13 — 스마트폰 Telephone sets; smartphones" in body
    status, body = _page("/detail/hscode/0203/")
    assert "0203.29 — 삼겹살 · 기타(삼겹살 외)" in body
    status, body = _page("/detail/hscode/8517.14/", "en")
    assert "8517.13 — Telephone sets; smartphones" in body and "스마트폰" not in body

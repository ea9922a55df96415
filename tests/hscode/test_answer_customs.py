"""The grounded answer names codes in Korean from the 관세청 table and checks typed HSK codes against it."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from customs.services import code_facts_for_answer
from hscode.grounded_answer import grounded_answer
from hscode.services import message_analyse
from tests.support.kcs_files import hsk_row, write_hsk_csv

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("shipped_data")]


def _answer(text: str) -> str:
    return grounded_answer(message_analyse(text), code_facts_for_answer)


def test_korean_answer_names_the_code_in_korean_with_its_path():
    answer = _answer("8517.13 수입하려고 해요")
    assert "입력하신 코드 8517.13는 관세청 HSK에서 다음과 같습니다: 스마트폰" in answer
    assert "분류 위치: 제85류 › 제8517호 › 소호 8517.13 › HSK 8517.13-0000 스마트폰" in answer
    assert "Telephone sets" not in answer


def test_korean_answer_lists_the_hsk_lines_of_a_subheading_with_a_bare_other_named():
    answer = _answer("0203.29 수입 요건")
    assert "0203.29 아래 HSK 10단위 세번 2개: 0203.29-1000 삼겹살, 0203.29-9000 기타(삼겹살 외)" in answer


def test_english_answer_keeps_english_names():
    answer = _answer("Is 8517.13 the right code for my phone?")
    assert "Telephone sets; smartphones" in answer
    assert "subheading 8517.13 › HSK 8517.13-0000 Smartphones" in answer


def test_unknown_typed_hsk_code_is_refused_with_the_nearest_lines():
    answer = _answer("8517.13-9999 관세율")
    assert "HSK 8517.13-9999은(는) 최신 관세청 HS부호표(2025년판)에 없는 10단위 코드입니다." in answer
    assert "가까운 유효 세번: 8517.13-0000 스마트폰" in answer
    assert "관세청 HSK에서 다음과 같습니다" not in answer  # an unknown line is not named as if it existed


def test_a_typed_code_dropped_by_a_newer_edition_says_so(tmp_path):
    rows = [hsk_row("0203291000", "삼겹살", "Streaky pork", valid_to="2026-12-31")]
    call_command("import_hsk", str(write_hsk_csv(tmp_path / "hsk2026.csv", rows)), "--no-progress")

    answer = _answer("0203.22-0000 관세율")

    assert "HSK 0203.22-0000은(는) 2025년판 관세청 HS부호표에는 있었으나 최신 2026년판에서 삭제되었습니다." in answer


def test_without_customs_facts_the_answer_still_uses_hs_2022():
    answer = grounded_answer(message_analyse("8517.13 관세율"))
    assert "HS 2022에서 다음과 같습니다: Telephone sets" in answer
    assert "관세율 수치는 이 서비스에 적재되어 있지 않습니다" in answer

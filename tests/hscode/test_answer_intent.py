"""The grounded answer fits what was asked: candidates by their Korean names with the question that separates
them, a plain word where regulation data is not connected, and a short how-to for a greeting."""

from __future__ import annotations

import re

import pytest

from customs.selectors import code_facts
from hscode.grounded_answer import grounded_answer
from hscode.services import message_analyse

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("shipped_data")]

HANGUL = re.compile(r"[\uac00-\ud7a3]")


def _answer(text: str) -> str:
    return grounded_answer(message_analyse(text), code_facts)


def test_an_uncertain_korean_regulation_question_names_candidates_in_korean_and_says_what_is_not_connected():
    answer = _answer("냉동 삼겹살 수입하려면 어떤 규제가 있어?")
    assert "0203.29 삼겹살" in answer  # the 관세청 name, not "Meat; of swine, n.e.c."
    assert "Meat; of swine" not in answer
    assert "이 코드로 보기" in answer
    assert "서비스에 연결되어 있지 않아 수출입 요건을 안내할 수 없습니다" in answer  # said plainly, no "규제 없음"
    assert "재질" not in answer


def test_an_uncertain_english_question_is_answered_in_english_without_the_frozen_question():
    answer = _answer("stainless steel bottle opener")
    assert "8205.51" in answer
    assert not HANGUL.search(answer)
    assert "frozen" not in answer.lower() and "chilled" not in answer.lower()


@pytest.mark.parametrize(("text", "expected"), [("안녕하세요", "이렇게 물어보세요"), ("hello", "Ask like this")])
def test_a_greeting_gets_a_short_how_to(text, expected):
    answer = _answer(text)
    assert expected in answer
    assert "재질" not in answer and "material" not in answer
    assert len(answer) < 300  # a few lines, not an essay


@pytest.mark.parametrize("text", ["안녕하세요, 반갑습니다", "고맙습니다!", "hi there", "thank you"])
def test_small_talk_names_no_product_and_gets_no_candidates(text):
    analysis = message_analyse(text)
    assert analysis.candidates == () and analysis.chosen is None

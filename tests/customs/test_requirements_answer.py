"""A regulation question in the chat lists Korea's 세관장확인대상 requirements from the (fake) service."""

from __future__ import annotations

import pytest

from customs.models import RequirementLookup
from customs.services import code_facts_for_answer
from hscode.grounded_answer import grounded_answer
from hscode.services import message_analyse
from tests.customs.kcs_fixtures import kcs_fake, kcs_no_keys  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("shipped_data")]


def _answer(text: str) -> str:
    return grounded_answer(message_analyse(text), code_facts_for_answer)


def test_frozen_pork_belly_import_requirements_are_listed(kcs_fake):  # noqa: F811
    answer = _answer("냉동 삼겹살 수입 요건")
    assert "가장 유력한 후보 0203.29" in answer  # the classifier leaves it a candidate; the answer says so
    assert "한국 세관장확인대상 수입 요건" in answer
    assert ("- 0203.29-1000 삼겹살: 가축전염병 예방법 / 농림축산검역본부 / 수입검역증명서; "
            "수입식품안전관리 특별법 / 식품의약품안전처 / 수입식품등의 신고확인증") in answer
    assert "0203.29-9000 기타(삼겹살 외): 조회된 요건 없음" in answer
    assert "수출 요건" not in answer  # the question asked about imports only
    assert "규제 없음" not in answer
    assert RequirementLookup.objects.filter(code="0203291000").count() == 2


def test_an_export_question_lists_export_requirements(kcs_fake):  # noqa: F811
    answer = _answer("0203.29-1000 수출 요건")
    assert "한국 세관장확인대상 수출 요건" in answer
    assert "가축전염병 예방법 / 농림축산검역본부 / 수출검역증명서" in answer


def test_english_question_gets_english_frame_with_verbatim_rows(kcs_fake):  # noqa: F811
    answer = _answer("What are the import requirements for HS 0203.29?")
    assert "Korea's customs-confirmation (세관장확인대상) import requirements" in answer
    assert "가축전염병 예방법 / 농림축산검역본부 / 수입검역증명서" in answer


def test_without_keys_the_answer_says_the_service_is_not_connected(kcs_no_keys):  # noqa: F811
    answer = _answer("냉동 삼겹살 수입 요건")
    assert "연결되어 있지 않아 수출입 요건을 안내할 수 없습니다" in answer
    assert "manage.py" not in answer


def test_a_failing_service_is_said_plainly_and_stores_nothing(kcs_fake):  # noqa: F811
    kcs_fake.set_fault("quota", service="ccct_gw")
    answer = _answer("냉동 삼겹살 수입 요건")
    assert "지금은 요건을 조회하지 못했습니다" in answer
    assert RequirementLookup.objects.count() == 0

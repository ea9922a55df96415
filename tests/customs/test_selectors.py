"""customs selectors: Korean display names of bare "기타" lines, with their parent or siblings."""

from __future__ import annotations

import pytest

from customs.selectors import dotted_hsk, hsk_lines

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("shipped_data")]


def test_a_bare_other_line_is_named_by_what_it_is_other_than():
    lines = {line.code: line for line in hsk_lines("020329")}
    assert lines["0203299000"].name_ko == "기타"
    assert lines["0203299000"].display_ko == "기타(삼겹살 외)"
    assert lines["0203299000"].display_en == "Other (not Streaky pork)"
    assert lines["0203291000"].display_ko == "삼겹살"


def test_a_line_under_a_group_row_carries_the_groups_name():
    lines = {line.code: line for line in hsk_lines("851762")}
    assert lines["8517621010"].parent_ko == "수신기기를 갖춘 송신기기"
    assert lines["8517621010"].display_ko == "유선통신용"
    assert lines["8517621010"].units == "U / KG"


def test_hsk_codes_are_shown_in_the_customary_dotted_form():
    assert dotted_hsk("0203291000") == "0203.29-1000"

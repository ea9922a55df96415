"""load_shipped_data loads the shipped HSK table once (the test session already ran it, as make run does)."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from customs.models import HskEdition, HskLine
from customs.selectors import hsk_lines

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("shipped_data")]


def test_the_shipped_table_is_loaded_at_session_start_and_a_second_run_changes_nothing(capsys):
    edition = HskEdition.objects.get(edition="2025")
    assert edition.line_count == 11327 and edition.lines.count() == 11327
    ids = set(HskLine.objects.filter(edition=edition).values_list("id", flat=True)[:50])

    call_command("load_shipped_data", "--no-progress")

    assert "HSK 2025: already loaded (11327 lines)" in capsys.readouterr().out
    assert ids <= set(HskLine.objects.filter(edition=edition).values_list("id", flat=True))
    assert [line.name_ko for line in hsk_lines("851713")] == ["스마트폰"]
    assert [line.name_ko for line in hsk_lines("020329")] == ["삼겹살", "기타"]


def test_load_shipped_data_is_wired_into_make_run_compose_and_the_test_session():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    assert "load_shipped_data" in (root / "devtools" / "stack.py").read_text(encoding="utf-8")
    assert "load_shipped_data" in (root / "docker-compose.yml").read_text(encoding="utf-8")
    assert "load_shipped_data" in (root / "tests" / "conftest.py").read_text(encoding="utf-8")

"""manage.py import_hsk loads a 관세청_HS부호 file as its edition; a malformed file loads nothing."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from customs.models import HskEdition, HskLine
from customs.selectors import current_edition, hsk_check, hsk_lines
from tests.support.kcs_files import SAMPLE_HSK_ROWS, hsk_row, write_hsk_csv, write_hsk_xlsx

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("shipped_data")]


def _edition_2026(rows):
    return [{**row, "적용종료일자": "2026-12-31"} for row in rows]


@pytest.mark.parametrize("writer", [write_hsk_csv, write_hsk_xlsx], ids=["csv", "xlsx"])
def test_import_hsk_loads_a_newer_edition_which_becomes_current(tmp_path, writer, capsys):
    path = writer(tmp_path / ("hsk." + ("csv" if writer is write_hsk_csv else "xlsx")), _edition_2026(SAMPLE_HSK_ROWS))

    call_command("import_hsk", str(path), "--no-progress")

    assert "HSK 2026: loaded 6 lines and 1 group rows" in capsys.readouterr().out
    assert current_edition().edition == "2026"
    edition = HskEdition.objects.get(edition="2026")
    assert edition.source_file == path.name and edition.line_count == 6
    pork = HskLine.objects.get(edition=edition, code="0203291000")
    assert (pork.name_ko, pork.weight_unit, str(pork.valid_from)) == ("삼겹살", "KG", "2002-01-01")


def test_reimporting_the_same_file_is_skipped_and_a_changed_file_replaces_the_edition(tmp_path, capsys):
    path = write_hsk_csv(tmp_path / "hsk.csv", _edition_2026(SAMPLE_HSK_ROWS))
    call_command("import_hsk", str(path), "--no-progress")
    call_command("import_hsk", str(path), "--no-progress")
    assert "already loaded" in capsys.readouterr().out

    changed = _edition_2026([*SAMPLE_HSK_ROWS, hsk_row("8517180000", "기타", "Other")])
    call_command("import_hsk", str(write_hsk_csv(tmp_path / "hsk2.csv", changed)), "--no-progress")

    edition = HskEdition.objects.get(edition="2026")
    assert edition.lines.count() == 7 and edition.source_file == "hsk2.csv"
    assert HskEdition.objects.filter(edition="2025").exists()  # the shipped edition is kept


def test_malformed_file_loads_nothing_and_the_error_names_its_bad_lines(tmp_path):
    rows = _edition_2026([*SAMPLE_HSK_ROWS, hsk_row("85171300X0", "스마트폰", "Smartphones"),
                          hsk_row("8517130001", "", "Smartphones")])
    path = write_hsk_csv(tmp_path / "bad.csv", rows)
    before = HskLine.objects.count()

    with pytest.raises(CommandError) as caught:
        call_command("import_hsk", str(path), "--no-progress")

    message = str(caught.value)
    assert "2 bad line(s), nothing loaded" in message
    assert "line 9: code '85171300X0' is not digits" in message
    assert "line 10: 한글품목명 is empty" in message
    assert HskLine.objects.count() == before and not HskEdition.objects.filter(edition="2026").exists()


def test_a_code_dropped_by_the_newer_edition_says_so_with_the_nearest_lines(tmp_path):
    # The 2026 fixture edition has 0203.29-1000 and -9000 but not 0203.22-0000, which the shipped 2025 one has.
    call_command("import_hsk", str(write_hsk_csv(tmp_path / "h.csv", _edition_2026(SAMPLE_HSK_ROWS))), "--no-progress")

    dropped = hsk_check("0203220000")
    assert (dropped.status, dropped.edition, dropped.last_edition) == ("dropped", "2026", "2025")
    assert [line.code for line in dropped.nearest] == ["0203291000", "0203299000"]
    unknown = hsk_check("8517139999")
    assert unknown.status == "unknown" and [line.code for line in unknown.nearest] == ["8517130000"]
    assert hsk_check("8517130000").status == "valid"
    assert [line.code for line in hsk_lines("851762")] == ["8517621010", "8517621020"]

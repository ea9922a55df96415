"""kcs.hsk_file reads the 관세청_HS부호 table as csv or xlsx, in the download's exact header layout."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pytest

from kcs import KcsFileError
from kcs.hsk_file import HskLine, read_hsk_file, read_hsk_table
from tests.support.kcs_files import (
    HSK_HEADER,
    SAMPLE_HSK_ROWS,
    hsk_row,
    write_hsk_csv,
    write_hsk_xlsx,
)

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "data" / "kcs" / "hsk_2025_kcs.csv"


@pytest.fixture(params=["csv", "xlsx"])
def sample_file(request, tmp_path) -> Path:
    writer = write_hsk_csv if request.param == "csv" else write_hsk_xlsx
    return writer(tmp_path / f"hsk.{request.param}", SAMPLE_HSK_ROWS)


def test_reads_ten_digit_lines_with_leading_zeros_names_units_and_dates(sample_file):
    lines = read_hsk_file(sample_file)

    assert [line.code for line in lines] == [
        "0203291000", "0203299000", "8517130000", "8517149000", "8517621010", "8517621020",
    ]  # fmt: skip
    pork = lines[0]
    assert pork == HskLine(
        code="0203291000",
        name_ko="삼겹살",
        name_en="Streaky pork",
        valid_from=dt.date(2002, 1, 1),
        valid_to=dt.date(2025, 12, 31),
        quantity_unit="",
        weight_unit="KG",
        property_class_name="(돼지고기)",
    )
    assert lines[2].name_ko == "스마트폰" and lines[2].quantity_unit == "U"
    assert lines[3].name_ko == "기타" and lines[3].property_class_name == "(기타 방식 휴대전화)"


def test_group_rows_are_kept_apart_as_parents_and_the_edition_is_the_end_year(sample_file):
    table = read_hsk_table(sample_file)

    assert [group.code for group in table.groups] == ["85176210"]
    assert table.groups[0].name_ko == "수신기기를 갖춘 송신기기"
    assert table.edition == "2025"
    assert table.edition_end == dt.date(2025, 12, 31)


def test_xlsx_excel_serial_dates_and_blank_21st_column_are_read(tmp_path):
    path = write_hsk_xlsx(tmp_path / "hsk.xlsx", SAMPLE_HSK_ROWS)
    sheet = openpyxl.load_workbook(path).active
    assert sheet["B2"].value == 37257  # the download's layout: 2002-01-01 as an Excel serial
    assert [cell.value for cell in sheet[1]][:20] == HSK_HEADER

    assert read_hsk_file(path)[0].valid_from == dt.date(2002, 1, 1)


def test_yyyymmdd_dates_and_cp949_csv_are_read(tmp_path):
    rows = [hsk_row("0101211000", "농가 사육용", "For farm breeding", valid_from="20130101", valid_to="20251231")]
    path = write_hsk_csv(tmp_path / "hsk.csv", rows, encoding="cp949")

    (line,) = read_hsk_file(path)

    assert (line.code, line.name_ko, line.valid_from) == ("0101211000", "농가 사육용", dt.date(2013, 1, 1))


def test_malformed_file_names_every_bad_line_with_its_reason(tmp_path):
    rows = [
        hsk_row("0203291000", "삼겹살", "Streaky pork"),
        hsk_row("20329900", "기타", "Other", valid_from="2025-13-40"),  # line 3: bad date
        hsk_row("85171300A0", "스마트폰", "Smartphones"),  # line 4: not digits
        hsk_row("8517", "전화기", "Telephone sets"),  # line 5: too short
        hsk_row("0203291000", "삼겹살", "Streaky pork"),  # line 6: repeats line 2
        hsk_row("8517149000", "", "Other"),  # line 7: no Korean name
        hsk_row("8517621010", "유선통신용", "For line", valid_from="2025-06-01", valid_to="2025-01-01"),  # line 8
    ]
    path = write_hsk_csv(tmp_path / "bad.csv", rows)

    with pytest.raises(KcsFileError) as caught:
        read_hsk_file(path)

    bad = {entry.line: entry.reason for entry in caught.value.bad_lines}
    assert sorted(bad) == [3, 4, 5, 6, 7, 8]
    assert "적용시작일자" in bad[3] and "2025-13-40" in bad[3]
    assert "not digits" in bad[4]
    assert "4 digits" in bad[5]
    assert "repeats line 2" in bad[6]
    assert "한글품목명" in bad[7]
    assert "before" in bad[8]
    assert "line 3:" in str(caught.value) and "6 bad line(s)" in str(caught.value)


def test_missing_column_is_refused_naming_it(tmp_path):
    path = tmp_path / "wrong.csv"
    path.write_text("HS부호,한글품목명\n0203291000,삼겹살\n", encoding="utf-8")

    with pytest.raises(KcsFileError) as caught:
        read_hsk_file(path)

    assert caught.value.bad_lines[0].line == 1
    assert "적용시작일자" in caught.value.bad_lines[0].reason


def test_xlsx_code_stored_as_number_is_named_as_bad(tmp_path):
    path = write_hsk_xlsx(tmp_path / "hsk.xlsx", SAMPLE_HSK_ROWS)
    workbook = openpyxl.load_workbook(path)
    workbook.active["A3"] = 85171300  # an 8-digit number: is it 0085171300 or group 85171300? refuse
    workbook.save(path)

    with pytest.raises(KcsFileError) as caught:
        read_hsk_file(path)

    (bad,) = caught.value.bad_lines
    assert (bad.sheet, bad.line) == ("HS부호", 3)
    assert "leading zeros" in bad.reason


def test_unsupported_file_type_and_missing_file_are_refused(tmp_path):
    other = tmp_path / "hsk.txt"
    other.write_text("x", encoding="utf-8")
    with pytest.raises(KcsFileError, match="unsupported file type"):
        read_hsk_file(other)
    with pytest.raises(KcsFileError, match="file not found"):
        read_hsk_file(tmp_path / "absent.csv")


def test_the_shipped_2025_table_reads_whole():
    table = read_hsk_table(SHIPPED)

    assert len(table.lines) == 11327 and len(table.groups) == 1140
    by_code = {line.code: line for line in table.lines}
    assert by_code["8517130000"].name_ko == "스마트폰"
    assert by_code["0203291000"].name_ko == "삼겹살"
    assert table.edition == "2025"

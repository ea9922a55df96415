"""kcs.tariff_file reads the 관세율표 (xlsx over several sheets, or csv) with its Korean headers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import openpyxl
import pytest

from kcs import KcsFileError
from kcs.tariff_file import read_tariff_file
from tests.support.kcs_files import TARIFF_HEADER, tariff_row, write_tariff_csv, write_tariff_xlsx

ROWS = [
    tariff_row("0203291000", "A", "25", "20260101", "20261231"),
    tariff_row("0203291000", "C", "22.5", "20260101", "20261231"),
    tariff_row("0203291000", "FUS1", "0", "20260101", "20261231"),
    tariff_row("0712391030", "FEU1", "5.4", "20190101", "20191231", 단위당세액="153"),
]


def test_xlsx_over_two_sheets_with_excel_serial_dates_and_a_repeated_row(tmp_path):
    path = write_tariff_xlsx(tmp_path / "rates.xlsx", {"Sheet1": ROWS[:3], "Sheet2": [ROWS[2], ROWS[3]]})
    sheet = openpyxl.load_workbook(path)["Sheet1"]
    assert [c.value for c in sheet[1]] == TARIFF_HEADER and sheet["D2"].value == 46023  # 2026-01-01 as a serial

    rates = read_tariff_file(path)

    assert [(r.code, r.rate_type, r.rate) for r in rates] == [
        ("0203291000", "A", Decimal("25")),
        ("0203291000", "C", Decimal("22.5")),
        ("0203291000", "FUS1", Decimal("0")),
        ("0712391030", "FEU1", Decimal("5.4")),
    ]  # the exact repeat on Sheet2 is dropped
    assert rates[0].valid_from == dt.date(2026, 1, 1) and rates[0].valid_to == dt.date(2026, 12, 31)
    assert rates[3].code.startswith("0") and rates[3].specific_duty == "153"


def test_csv_with_yyyymmdd_dates_keeps_leading_zeros(tmp_path):
    path = write_tariff_csv(tmp_path / "rates.csv", ROWS, encoding="cp949")

    rates = read_tariff_file(path)

    assert rates[-1].code == "0712391030" and rates[-1].valid_from == dt.date(2019, 1, 1)


def test_malformed_file_names_every_bad_line(tmp_path):
    rows = [
        *ROWS[:2],
        tariff_row("203291000", "A", "25"),  # line 4: 9 digits as text
        tariff_row("0203291000", "FCN1", "abc"),  # line 5
        tariff_row("0203291000", "FEU1", "0", "20261301", "20261231"),  # line 6: month 13
        tariff_row("0203291000", "A", "30", "20260101", "20261231"),  # line 7: contradicts line 2
        tariff_row("0203291000", "", "8"),  # line 8: no rate type
        tariff_row("0203291000", "FVN1", ""),  # line 9: no rate at all
    ]
    path = write_tariff_csv(tmp_path / "bad.csv", rows)

    with pytest.raises(KcsFileError) as caught:
        read_tariff_file(path)

    bad = {entry.line: entry.reason for entry in caught.value.bad_lines}
    assert sorted(bad) == [4, 5, 6, 7, 8, 9]
    assert "9 digits" in bad[4]
    assert "관세율 'abc' is not a number" in bad[5]
    assert "적용개시일" in bad[6]
    assert "differs from line 2" in bad[7]
    assert "관세율구분" in bad[8]
    assert "관세율 is empty" in bad[9]


def test_file_without_the_tariff_header_is_refused(tmp_path):
    path = write_tariff_xlsx(tmp_path / "rates.xlsx", {"Sheet1": ROWS})
    workbook = openpyxl.load_workbook(path)
    workbook["Sheet1"]["B1"] = "세율구분"
    workbook.save(path)

    with pytest.raises(KcsFileError, match="no sheet has the column"):
        read_tariff_file(path)

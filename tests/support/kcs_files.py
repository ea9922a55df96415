"""KCS files in the exact header layouts of the data.go.kr downloads, built by the tests themselves.

- 관세청_HS부호 (15049722): 20 named columns plus a blank 21st; xlsx dates as Excel serials, codes as text.
- 관세청_품목번호별 관세율표 (15051179): 품목번호, 관세율구분, 관세율, 적용개시일, 적용만료일, 단위당세액, 기준가격.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

import openpyxl

HSK_HEADER = [
    "HS부호", "적용시작일자", "적용종료일자", "한글품목명", "영문품목명", "HS부호내용", "한국표준무역분류명",
    "수량단위최대단가", "중량단위최대단가", "수량단위코드", "중량단위코드", "수출성질코드", "수입성질코드",
    "품목규격명", "필수규격명", "참고규격명", "규격설명", "규격사항내용", "성질통합분류코드", "성질통합분류코드명",
]  # fmt: skip
TARIFF_HEADER = ["품목번호", "관세율구분", "관세율", "적용개시일", "적용만료일", "단위당세액", "기준가격"]
EXCEL_EPOCH = dt.date(1899, 12, 30)


def excel_serial(day: dt.date) -> int:
    return (day - EXCEL_EPOCH).days


def hsk_row(
    code: str,
    name_ko: str,
    name_en: str,
    *,
    valid_from: str = "2022-01-01",
    valid_to: str = "2025-12-31",
    quantity_unit: str = "U",
    weight_unit: str = "KG",
    property_class: str = "",
) -> dict[str, Any]:
    return {
        "HS부호": code, "적용시작일자": valid_from, "적용종료일자": valid_to, "한글품목명": name_ko,
        "영문품목명": name_en, "수량단위코드": quantity_unit, "중량단위코드": weight_unit,
        "성질통합분류코드명": property_class,
    }  # fmt: skip


# A slice of the real 2025 table: codes with leading zeros, a 10-digit "기타", an 8-digit group row.
SAMPLE_HSK_ROWS = [
    hsk_row("0203291000", "삼겹살", "Streaky pork", valid_from="2002-01-01", quantity_unit="",
            property_class="(돼지고기)"),
    hsk_row("0203299000", "기타", "Other", valid_from="2002-01-01", quantity_unit="", property_class="(돼지고기)"),
    hsk_row("8517130000", "스마트폰", "Smartphones", property_class="(스마트폰)"),
    hsk_row("8517149000", "기타", "Other", property_class="(기타 방식 휴대전화)"),
    hsk_row("85176210", "수신기기를 갖춘 송신기기", "Transmission apparatus incorporating reception apparatus",
            quantity_unit="", weight_unit=""),
    hsk_row("8517621010", "유선통신용", "For line telecommunication", property_class="(유선통신기기)"),
    hsk_row("8517621020", "무선통신용", "For radio-telecommunication", property_class="(기타 무선통신기기)"),
]  # fmt: skip


def write_hsk_csv(path: Path, rows: list[dict[str, Any]], encoding: str = "utf-8-sig") -> Path:
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HSK_HEADER)
        for row in rows:
            writer.writerow([row.get(column, "") for column in HSK_HEADER])
    return path


def _as_xlsx_date(value: Any) -> Any:
    """ISO text becomes an Excel serial number, as in the downloads; anything else is written as given."""
    if isinstance(value, str) and len(value) == 10 and value[4] == "-":
        return excel_serial(dt.date.fromisoformat(value))
    return value


def write_hsk_xlsx(path: Path, rows: list[dict[str, Any]]) -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "HS부호"
    sheet.append([*HSK_HEADER, None])  # the blank 21st column
    for row in rows:
        values = []
        for column in HSK_HEADER:
            value = row.get(column, "")
            if column in ("적용시작일자", "적용종료일자"):
                value = _as_xlsx_date(value)
            values.append(value if value != "" else None)
        sheet.append(values)
    for cell in sheet["A"][1:]:
        cell.number_format = "@"  # codes stored as text: leading zeros kept
    workbook.save(path)
    return path


def tariff_row(
    code: str, rate_type: str, rate: Any, valid_from: Any = "20260101", valid_to: Any = "20261231", **extra: Any
) -> dict[str, Any]:
    return {"품목번호": code, "관세율구분": rate_type, "관세율": rate, "적용개시일": valid_from,
            "적용만료일": valid_to, **extra}  # fmt: skip


def write_tariff_csv(path: Path, rows: list[dict[str, Any]], encoding: str = "utf-8-sig") -> Path:
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(TARIFF_HEADER)
        for row in rows:
            writer.writerow([row.get(column, "") for column in TARIFF_HEADER])
    return path


def write_tariff_xlsx(path: Path, sheets: dict[str, list[dict[str, Any]]]) -> Path:
    """One sheet per key (the real file spreads its rows over several sheets); dates as Excel serials."""
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets.items():
        sheet = workbook.create_sheet(title)
        sheet.append(TARIFF_HEADER)
        for row in rows:
            values = []
            for column in TARIFF_HEADER:
                value = row.get(column, "")
                if column in ("적용개시일", "적용만료일") and isinstance(value, str) and len(value) == 8:
                    value = excel_serial(dt.date(int(value[:4]), int(value[4:6]), int(value[6:])))
                values.append(value if value != "" else None)
            sheet.append(values)
        for cell in sheet["A"][1:]:
            cell.number_format = "@"
    workbook.save(path)
    return path


def this_year_period(today: dt.date | None = None) -> tuple[str, str]:
    """The usual 관세율표 period (the calendar year) around today, as YYYYMMDD."""
    year = (today or dt.date.today()).year
    return f"{year}0101", f"{year}1231"


def sample_tariff_rows(today: dt.date | None = None) -> list[dict[str, Any]]:
    """Rates of this year for the HSK lines of 0203.29 and 8517.13, in the 관세율표 layout (test figures)."""
    start, end = this_year_period(today)
    rows = []
    for code, figures in {
        "0203291000": {"A": "25", "C": "22.5", "FUS1": "0", "FCL1": "0", "FCN1": "18.8", "FEU1": "0"},
        "0203299000": {"A": "25", "C": "22.5", "FUS1": "0", "FCN1": "20", "FVN1": "4.5"},
        "8517130000": {"A": "8", "C": "0", "FUS1": "0", "FEU1": "0"},
    }.items():
        for rate_type, rate in figures.items():
            rows.append(tariff_row(code, rate_type, rate, start, end))
    return rows

"""Rows of a KCS csv or xlsx file as {Korean header: cell}, and the cell conversions both files need."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openpyxl

from .errors import BadLine, KcsFileError

# Excel's day zero for serial dates (serial 1 = 1900-01-01, with Excel's phantom 1900-02-29 absorbed).
EXCEL_EPOCH = dt.date(1899, 12, 30)
# Serials before this are not plausible dates in these files (1950-01-01); a small number is a typo.
MIN_EXCEL_SERIAL = 18264
CSV_ENCODINGS = ("utf-8-sig", "cp949")


@dataclass(frozen=True)
class Row:
    """One data row: its 1-based line number (header is line 1 of its sheet), sheet name for xlsx, cells."""

    line: int
    sheet: str
    cells: dict[str, Any]

    def bad(self, reason: str) -> BadLine:
        return BadLine(line=self.line, reason=reason, sheet=self.sheet)


def read_rows(path: str | Path, required: tuple[str, ...]) -> Iterator[Row]:
    """Every data row of a csv or xlsx file whose header row holds the `required` Korean headers, one at a time
    (a 관세율표 has hundreds of thousands of rows).

    An xlsx file may spread its rows over several sheets with the same header; sheets without it (a cover
    sheet) are skipped, but a file where no sheet has it is refused. Blank rows are skipped.
    """
    path = Path(path)
    if not path.is_file():
        raise KcsFileError(str(path), [BadLine(0, "file not found")])
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _csv_rows(path, required)
    if suffix in (".xlsx", ".xlsm"):
        return _xlsx_rows(path, required)
    raise KcsFileError(str(path), [BadLine(0, f"unsupported file type {suffix or '(none)'}: use .csv or .xlsx")])


def _header(cells: list[Any]) -> list[str]:
    return [str(cell).strip().lstrip("\ufeff") if cell is not None else "" for cell in cells]


def _missing(header: list[str], required: tuple[str, ...]) -> list[str]:
    return [name for name in required if name not in header]


def _csv_text(path: Path) -> str:
    raw = path.read_bytes()
    for encoding in CSV_ENCODINGS:
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise KcsFileError(str(path), [BadLine(0, "not UTF-8 or CP949 text")])


def _csv_rows(path: Path, required: tuple[str, ...]) -> Iterator[Row]:
    reader = csv.reader(io.StringIO(_csv_text(path), newline=""))
    header = _header(next(reader, []))
    missing = _missing(header, required)
    if missing:
        raise KcsFileError(str(path), [BadLine(1, f"missing column(s): {', '.join(missing)}")])
    for line, values in enumerate(reader, start=2):
        if not any(value.strip() for value in values):
            continue
        yield Row(line=line, sheet="", cells=dict(zip(header, values, strict=False)))


def _xlsx_rows(path: Path, required: tuple[str, ...]) -> Iterator[Row]:
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several unrelated types for a broken zip or xml
        raise KcsFileError(str(path), [BadLine(0, f"not a readable xlsx file ({exc.__class__.__name__})")]) from exc
    sheets_with_header = 0
    try:
        for sheet in workbook.worksheets:
            values = sheet.iter_rows(values_only=True)
            header = _header(list(next(values, ())))
            if _missing(header, required):
                continue
            sheets_with_header += 1
            for line, cells in enumerate(values, start=2):
                if not any(cell not in (None, "") for cell in cells):
                    continue
                yield Row(line=line, sheet=sheet.title, cells=dict(zip(header, cells, strict=False)))
    finally:
        workbook.close()
    if not sheets_with_header:
        raise KcsFileError(str(path), [BadLine(1, f"no sheet has the column(s): {', '.join(required)}")])


def text(value: Any) -> str:
    """A cell as stripped text ('' for empty); whole floats lose their '.0'."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def parse_date(value: Any) -> dt.date:
    """A date cell: a date/datetime, an Excel serial (46387 = 2026-12-31), YYYYMMDD, or YYYY-MM-DD.

    Raises ValueError with a reason a person can act on.
    """
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _excel_serial(value)
    raw = text(value)
    if not raw:
        raise ValueError("empty date")
    digits = raw.replace("-", "").replace(".", "").replace("/", "")
    if digits.isdigit() and len(digits) == 8:
        try:
            return dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
        except ValueError as exc:
            raise ValueError(f"not a date: {raw!r}") from exc
    if raw.isdigit() and len(raw) <= 6:
        return _excel_serial(int(raw))
    raise ValueError(f"not a date: {raw!r} (expected YYYYMMDD, YYYY-MM-DD or an Excel serial)")


def _excel_serial(value: float) -> dt.date:
    if value < MIN_EXCEL_SERIAL or value != int(value):
        raise ValueError(f"not a date: Excel serial {value!r}")
    return EXCEL_EPOCH + dt.timedelta(days=int(value))


def hs_code(value: Any, lengths: tuple[int, ...]) -> str:
    """An HS code cell as its digits (dots and dashes dropped), leading zeros kept.

    A numeric xlsx cell has already lost its leading zeros; a 10-digit code is only rebuilt from it when the
    number has 9 digits and `lengths` allows no 9-digit code, otherwise it is refused.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        digits = text(value)
        if len(digits) == 9 and lengths == (10,):
            return "0" + digits
        if len(digits) == 10 and 10 in lengths:
            return digits
        raise ValueError(f"code stored as the number {digits}: leading zeros may be lost (store it as text)")
    raw = text(value).replace(".", "").replace("-", "").replace(" ", "")
    if not raw:
        raise ValueError("empty code")
    if not raw.isdigit():
        raise ValueError(f"code {text(value)!r} is not digits")
    if len(raw) not in lengths:
        allowed = " or ".join(str(n) for n in lengths)
        raise ValueError(f"code {raw!r} has {len(raw)} digits (expected {allowed})")
    return raw


def validity_period(cells: dict, column_from: str, column_to: str) -> tuple[dt.date, dt.date]:
    """The (from, to) dates of a row's validity columns; ValueError naming the column when one is bad."""
    dates = []
    for column in (column_from, column_to):
        try:
            dates.append(parse_date(cells.get(column)))
        except ValueError as exc:
            raise ValueError(f"{column}: {exc}") from None
    valid_from, valid_to = dates
    if valid_to < valid_from:
        raise ValueError(f"{column_to} {valid_to} is before {column_from} {valid_from}")
    return valid_from, valid_to

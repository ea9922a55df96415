"""The KCS HS code table (관세청_HS부호, data.go.kr 15049722), csv or the yearly xlsx, same Korean headers.

The table has 10-digit HSK lines and, between the HS6 and them, 7–9 digit group rows ("수신기기를 갖춘
송신기기" over 8517.62-1010/1020). Ten-digit names are relative to their parent, often just "기타": the groups
give the parent name of such a line. Every row's 적용종료일자 is the end of the file's edition year, not the
code's expiry, so the edition is the year of the newest end date.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from .errors import BadLine, KcsFileError
from .tabular import Row, hs_code, read_rows, text, validity_period

COL_CODE = "HS부호"
COL_VALID_FROM = "적용시작일자"
COL_VALID_TO = "적용종료일자"
COL_NAME_KO = "한글품목명"
COL_NAME_EN = "영문품목명"
COL_QUANTITY_UNIT = "수량단위코드"
COL_WEIGHT_UNIT = "중량단위코드"
COL_PROPERTY_CLASS = "성질통합분류코드명"
COL_TRADE_CLASS = "한국표준무역분류명"
REQUIRED_COLUMNS = (
    COL_CODE,
    COL_VALID_FROM,
    COL_VALID_TO,
    COL_NAME_KO,
    COL_NAME_EN,
    COL_QUANTITY_UNIT,
    COL_WEIGHT_UNIT,
)
HSK_LENGTH = 10
GROUP_LENGTHS = (7, 8, 9)


@dataclass(frozen=True)
class HskLine:
    """One HSK 10-digit line. Names are as the file has them (relative to the parent: maybe just "기타")."""

    code: str
    name_ko: str
    name_en: str
    valid_from: dt.date
    valid_to: dt.date
    quantity_unit: str
    weight_unit: str
    property_class_name: str = ""
    trade_class_name: str = ""

    @property
    def hs6(self) -> str:
        return self.code[:6]


@dataclass(frozen=True)
class HskGroup:
    """A 7–9 digit row between an HS6 and its HSK lines: the parent of the lines whose code it starts."""

    code: str
    name_ko: str
    name_en: str
    valid_from: dt.date
    valid_to: dt.date


@dataclass(frozen=True)
class HskTable:
    lines: list[HskLine]
    groups: list[HskGroup]

    @property
    def edition_end(self) -> dt.date:
        """The end of the file's edition year (every row's 적용종료일자 in the published files)."""
        return max(line.valid_to for line in self.lines)

    @property
    def edition(self) -> str:
        """The edition's name: its year ("2025")."""
        return str(self.edition_end.year)


def read_hsk_table(path: str | Path) -> HskTable:
    """All HSK lines and group rows of a file; raises KcsFileError naming every bad line."""
    rows = read_rows(path, REQUIRED_COLUMNS)
    lines: list[HskLine] = []
    groups: list[HskGroup] = []
    bad: list[BadLine] = []
    seen: dict[str, int] = {}
    for row in rows:
        try:
            item = _parse(row)
        except ValueError as exc:
            bad.append(row.bad(str(exc)))
            continue
        if item.code in seen:
            bad.append(row.bad(f"code {item.code} repeats line {seen[item.code]}"))
            continue
        seen[item.code] = row.line
        (lines if isinstance(item, HskLine) else groups).append(item)
    if not lines and not bad:
        bad.append(BadLine(1, "no HSK 10-digit line in the file"))
    if bad:
        raise KcsFileError(str(path), bad)
    return HskTable(lines=lines, groups=groups)


def read_hsk_file(path: str | Path) -> list[HskLine]:
    """The HSK 10-digit lines of a file, in file order; raises KcsFileError naming every bad line."""
    return read_hsk_table(path).lines


def _parse(row: Row) -> HskLine | HskGroup:
    cells = row.cells
    code = hs_code(cells.get(COL_CODE), (*GROUP_LENGTHS, HSK_LENGTH))
    name_ko = text(cells.get(COL_NAME_KO))
    if not name_ko:
        raise ValueError(f"{COL_NAME_KO} is empty")
    valid_from, valid_to = validity_period(cells, COL_VALID_FROM, COL_VALID_TO)
    name_en = text(cells.get(COL_NAME_EN))
    if len(code) < HSK_LENGTH:
        return HskGroup(code=code, name_ko=name_ko, name_en=name_en, valid_from=valid_from, valid_to=valid_to)
    return HskLine(
        code=code,
        name_ko=name_ko,
        name_en=name_en,
        valid_from=valid_from,
        valid_to=valid_to,
        quantity_unit=text(cells.get(COL_QUANTITY_UNIT)),
        weight_unit=text(cells.get(COL_WEIGHT_UNIT)),
        property_class_name=text(cells.get(COL_PROPERTY_CLASS)),
        trade_class_name=text(cells.get(COL_TRADE_CLASS)),
    )

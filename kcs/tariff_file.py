"""The KCS tariff schedule file (관세청_품목번호별 관세율표, data.go.kr 15051179), csv or xlsx.

Columns: 품목번호 (HSK10), 관세율구분 (rate-type code: A, C, FCN1 …), 관세율 (%), 적용개시일, 적용만료일, and
optionally 단위당세액, 기준가격. The file has codes, not rate-type names (kcs.rate_types names them). The xlsx
spreads its rows over several sheets with the same header and repeats some rows across them: an exact
repeat is dropped, a repeat with other figures is a bad line.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from .errors import BadLine, KcsFileError
from .tabular import Row, hs_code, read_rows, text, validity_period

COL_CODE = "품목번호"
COL_RATE_TYPE = "관세율구분"
COL_RATE = "관세율"
COL_VALID_FROM = "적용개시일"
COL_VALID_TO = "적용만료일"
COL_SPECIFIC_DUTY = "단위당세액"
COL_BASE_PRICE = "기준가격"
REQUIRED_COLUMNS = (COL_CODE, COL_RATE_TYPE, COL_RATE, COL_VALID_FROM, COL_VALID_TO)
MAX_RATE = Decimal("1000")  # some agricultural basic rates exceed 800 %; anything above 1000 % is a typo


@dataclass(frozen=True, slots=True)
class TariffRateLine:
    """One rate of one HSK line for one rate type and period. `rate` is in percent (None: specific duty only)."""

    code: str
    rate_type: str
    rate: Decimal | None
    valid_from: dt.date
    valid_to: dt.date
    specific_duty: str = ""
    base_price: str = ""

    @property
    def key(self) -> tuple[str, str, dt.date]:
        return (self.code, self.rate_type, self.valid_from)


def read_tariff_file(path: str | Path) -> list[TariffRateLine]:
    """Every rate line of the file (exact repeats dropped); raises KcsFileError naming every bad line."""
    rows = read_rows(path, REQUIRED_COLUMNS)
    rates: list[TariffRateLine] = []
    bad: list[BadLine] = []
    seen: dict[tuple[str, str, dt.date], tuple[TariffRateLine, int, str]] = {}
    for row in rows:
        try:
            rate = _parse(row)
        except ValueError as exc:
            bad.append(row.bad(str(exc)))
            continue
        earlier = seen.get(rate.key)
        if earlier is not None:
            first, line, sheet = earlier
            if first != rate:
                where = f"{sheet}!{line}" if sheet else f"line {line}"
                bad.append(row.bad(f"{rate.code} {rate.rate_type} from {rate.valid_from} differs from {where}"))
            continue
        seen[rate.key] = (rate, row.line, row.sheet)
        rates.append(rate)
    if not rates and not bad:
        bad.append(BadLine(1, "no rate line in the file"))
    if bad:
        raise KcsFileError(str(path), bad)
    return rates


def _decimal(value: Any, column: str) -> Decimal | None:
    raw = text(value).replace(",", "").rstrip("%").strip()
    if not raw:
        return None
    try:
        number = Decimal(raw)
    except InvalidOperation:
        raise ValueError(f"{column} {raw!r} is not a number") from None
    if not number.is_finite() or number < 0:
        raise ValueError(f"{column} {raw!r} is not a rate")
    return number


def _parse(row: Row) -> TariffRateLine:
    cells = row.cells
    code = hs_code(cells.get(COL_CODE), (10,))
    rate_type = text(cells.get(COL_RATE_TYPE)).upper()
    if not rate_type or not rate_type.isalnum() or len(rate_type) > 8:
        raise ValueError(f"{COL_RATE_TYPE} {rate_type!r} is not a rate-type code")
    rate = _decimal(cells.get(COL_RATE), COL_RATE)
    if rate is not None and rate > MAX_RATE:
        raise ValueError(f"{COL_RATE} {rate} % is above {MAX_RATE} %")
    specific = text(cells.get(COL_SPECIFIC_DUTY))
    if rate is None and not specific:
        raise ValueError(f"{COL_RATE} is empty (and no {COL_SPECIFIC_DUTY})")
    valid_from, valid_to = validity_period(cells, COL_VALID_FROM, COL_VALID_TO)
    return TariffRateLine(
        code=code,
        rate_type=rate_type,
        rate=rate,
        valid_from=valid_from,
        valid_to=valid_to,
        specific_duty=specific,
        base_price=text(cells.get(COL_BASE_PRICE)),
    )

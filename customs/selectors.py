"""Reads of the 관세청 data for pages and answers: HSK lines with display names, code checks, tariff rates.

Returned values are plain frozen dataclasses so that plain-Python callers (hscode/grounded_answer.py) can use them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from kcs.rate_types import BASIC, FTA, WTO, rate_type

from .live_services import SOURCE_NAMES, requirements_service
from .models import HskEdition, HskGroup, HskLine, Requirement, RequirementLookup, TariffImport, TariffRate

OTHER_KO = "기타"
OTHER_EN = "Other"
# How many sibling names a bare "기타" borrows to say what it is other than.
OTHER_SIBLINGS_SHOWN = 2
NEAREST_SHOWN = 5


def dotted_hsk(code: str) -> str:
    """8517130000 → 8517.13-0000 (the customary form of an HSK 10-digit code)."""
    return f"{code[:4]}.{code[4:6]}-{code[6:]}" if len(code) == 10 else code


def _is_bare_other(name: str) -> bool:
    return name.strip().rstrip(".").strip() in (OTHER_KO, OTHER_EN)


@dataclass(frozen=True)
class HskLineView:
    code: str
    name_ko: str  # as published (maybe just "기타")
    name_en: str
    display_ko: str  # a bare "기타" with its parent's name or what it is other than
    display_en: str
    parent_ko: str  # the 7–9 digit group's name above the line, if any
    parent_en: str
    quantity_unit: str
    weight_unit: str
    property_class_name: str
    valid_from: dt.date

    @property
    def dotted(self) -> str:
        return dotted_hsk(self.code)

    @property
    def hs6_dotted(self) -> str:
        return f"{self.code[:4]}.{self.code[4:6]}"

    def display(self, language: str) -> str:
        if language.startswith("en"):
            return self.display_en or self.display_ko
        return self.display_ko

    @property
    def units(self) -> str:
        return " / ".join(unit for unit in (self.quantity_unit, self.weight_unit) if unit)


def current_edition() -> HskEdition | None:
    return HskEdition.objects.order_by("-edition_end", "-imported_at").first()


def _other_name(name: str, parent: str, siblings: list[str], *, korean: bool) -> str:
    if not _is_bare_other(name):
        return name
    if parent and not _is_bare_other(parent):
        return f"{parent} 중 기타" if korean else f"{parent}: other"
    named = [s for s in siblings if not _is_bare_other(s)][:OTHER_SIBLINGS_SHOWN]
    if not named:
        return name
    if korean:
        return f"기타({'·'.join(named)} 외)"
    return f"Other (not {' / '.join(named)})"


def _views(edition: HskEdition, lines: list[HskLine]) -> list[HskLineView]:
    """Display names need each line's parent group and siblings: both come from the lines' HS6 groups."""
    hs6s = {line.hs6 for line in lines}
    groups = list(HskGroup.objects.filter(edition=edition, hs6__in=hs6s))
    siblings_of: dict[str, list[HskLine]] = {}
    for sibling in HskLine.objects.filter(edition=edition, hs6__in=hs6s).order_by("code"):
        siblings_of.setdefault(sibling.hs6, []).append(sibling)
    views = []
    for line in lines:
        parent = max((g for g in groups if line.code.startswith(g.code)), key=lambda g: len(g.code), default=None)
        same_parent = [
            s for s in siblings_of.get(line.hs6, [])
            if s.code != line.code and (parent is None or s.code.startswith(parent.code))
        ]  # fmt: skip
        parent_ko = parent.name_ko.strip() if parent else ""
        parent_en = parent.name_en.strip() if parent else ""
        views.append(
            HskLineView(
                code=line.code,
                name_ko=line.name_ko,
                name_en=line.name_en,
                display_ko=_other_name(line.name_ko, parent_ko, [s.name_ko for s in same_parent], korean=True),
                display_en=_other_name(line.name_en, parent_en, [s.name_en for s in same_parent], korean=False),
                parent_ko=parent_ko,
                parent_en=parent_en,
                quantity_unit=line.quantity_unit,
                weight_unit=line.weight_unit,
                property_class_name=line.property_class_name,
                valid_from=line.valid_from,
            )
        )
    return views


def hsk_lines(prefix: str, *, limit: int = 400) -> list[HskLineView]:
    """The current edition's HSK lines under a code prefix (2–10 digits), in code order."""
    edition = current_edition()
    if edition is None or not prefix.isdigit():
        return []
    lines = list(HskLine.objects.filter(edition=edition, code__startswith=prefix).order_by("code")[:limit])
    return _views(edition, lines)


def hsk_names_by_hs6(hs6_codes: list[str], language: str, *, shown: int = 3) -> dict[str, str]:
    """For subheading lists: each HS6's HSK line names ("스마트폰", "삼겹살 · 기타(삼겹살 외)")."""
    edition = current_edition()
    wanted = [code for code in hs6_codes if len(code) == 6]
    if edition is None or not wanted:
        return {}
    lines = list(HskLine.objects.filter(edition=edition, hs6__in=wanted).order_by("code"))
    names: dict[str, list[str]] = {}
    for view in _views(edition, lines):
        names.setdefault(view.code[:6], []).append(view.display(language))
    return {hs6: " · ".join(found[:shown]) + (" …" if len(found) > shown else "") for hs6, found in names.items()}


@dataclass(frozen=True)
class HskCheck:
    """A typed 10-digit code against the newest edition. status: valid, dropped, unknown, or no_table."""

    code: str
    status: str
    edition: str = ""
    line: HskLineView | None = None
    last_edition: str = ""  # for "dropped": the newest edition that still had the code
    nearest: tuple[HskLineView, ...] = field(default=())

    @property
    def dotted(self) -> str:
        return dotted_hsk(self.code)


def hsk_check(code: str) -> HskCheck:
    edition = current_edition()
    if edition is None:
        return HskCheck(code=code, status="no_table")
    line = HskLine.objects.filter(edition=edition, code=code).first()
    if line is not None:
        return HskCheck(code=code, status="valid", edition=edition.edition, line=_views(edition, [line])[0])
    nearest = tuple(_nearest(edition, code))
    older = (
        HskLine.objects.filter(code=code).exclude(edition=edition).select_related("edition")
        .order_by("-edition__edition_end").first()
    )  # fmt: skip
    if older is not None:
        return HskCheck(code=code, status="dropped", edition=edition.edition, last_edition=older.edition.edition,
                        nearest=nearest)
    return HskCheck(code=code, status="unknown", edition=edition.edition, nearest=nearest)


def _nearest(edition: HskEdition, code: str) -> list[HskLineView]:
    """Lines sharing the longest prefix with the code (at least the chapter), numerically closest first."""
    for length in (8, 6, 4, 2):
        candidates = list(HskLine.objects.filter(edition=edition, code__startswith=code[:length]))
        if candidates:
            target = int(code)
            candidates.sort(key=lambda line: (abs(int(line.code) - target), line.code))
            chosen = sorted(candidates[:NEAREST_SHOWN], key=lambda line: line.code)
            return _views(edition, chosen)
    return []


# --- tariff rates -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RateView:
    rate_type: str
    name_ko: str
    name_en: str
    kind: str
    rate: Decimal | None
    specific_duty: str
    valid_from: dt.date
    valid_to: dt.date

    def name(self, language: str) -> str:
        return self.name_en if language.startswith("en") else self.name_ko

    @property
    def percent(self) -> str:
        """"8%", "6.5%"; a specific duty only: its amount as published."""
        if self.rate is None:
            return self.specific_duty
        text = format(self.rate.normalize(), "f")
        return f"{text}%"


@dataclass(frozen=True)
class LineRates:
    code: str
    basic: RateView | None
    wto: RateView | None
    fta: tuple[RateView, ...]  # every FTA rate valid on the day, lowest first

    @property
    def lowest_fta(self) -> RateView | None:
        with_rate = [r for r in self.fta if r.rate is not None]
        return with_rate[0] if with_rate else None

    @property
    def dotted(self) -> str:
        return dotted_hsk(self.code)


@dataclass(frozen=True)
class RatesInfo:
    """Rates valid on `as_of` for some codes. `loaded` is False when no 관세율표 file was ever imported."""

    loaded: bool
    as_of: dt.date
    source_file: str = ""
    imported_at: dt.datetime | None = None
    by_code: dict[str, LineRates] = field(default_factory=dict)
    # Codes whose rows come from UNI-PASS API030 (live) instead of the file, and when they were fetched.
    live_codes: frozenset[str] = frozenset()
    live_fetched_at: dt.datetime | None = None
    live_error_code: str = ""


def _rate_view(row: TariffRate) -> RateView:
    kind = rate_type(row.rate_type)
    return RateView(
        rate_type=row.rate_type, name_ko=kind.name_ko, name_en=kind.name_en, kind=kind.kind, rate=row.rate,
        specific_duty=row.specific_duty, valid_from=row.valid_from, valid_to=row.valid_to,
    )


def line_rates(code: str, views: list[RateView]) -> LineRates:
    """Basic, WTO and the FTA rates (lowest first) of one code from its rate views."""
    basic = next((v for v in views if v.kind == BASIC), None)
    wto = next((v for v in views if v.kind == WTO), None)
    fta = sorted(
        (v for v in views if v.kind == FTA),
        key=lambda v: (v.rate is None, v.rate if v.rate is not None else Decimal(0), v.rate_type),
    )
    return LineRates(code=code, basic=basic, wto=wto, fta=tuple(fta))


def tariff_rates(codes: list[str], *, on: dt.date | None = None) -> RatesInfo:
    """Basic (A), WTO (C) and every FTA rate of each code valid on the day (today by default)."""
    on = on or timezone.localdate()
    latest = TariffImport.objects.order_by("-imported_at", "-id").first()
    if latest is None:
        return RatesInfo(loaded=False, as_of=on)
    rows = TariffRate.objects.filter(code__in=codes, valid_from__lte=on, valid_to__gte=on).select_related("source")
    grouped: dict[str, list[TariffRate]] = {}
    for row in rows:
        grouped.setdefault(row.code, []).append(row)
    by_code = {code: line_rates(code, [_rate_view(row) for row in code_rows]) for code, code_rows in grouped.items()}
    sources = {row.source for row in rows}
    source = max(sources, key=lambda s: (s.imported_at, s.id)) if sources else latest
    return RatesInfo(loaded=True, as_of=on, source_file=source.source_file, imported_at=source.imported_at,
                     by_code=by_code)


def tariff_lookup_url(code: str) -> str:
    """The official page where a person checks the rates of a code themselves (관세법령정보포털 CLIP)."""
    return settings.KCS_TARIFF_LOOKUP_URL.replace("{code}", code)


# --- facts for the grounded answer ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CodeFacts:
    """What the 관세청 data says about one code, for the answer: its HSK lines, their rates, a code check."""

    edition: str
    lines: tuple[HskLineView, ...]
    rates: RatesInfo
    check: HskCheck | None  # for a typed 10-digit code
    lookup_url: str
    # Korea's 세관장확인대상 requirements of the lines, as stored (only when asked for).
    requirements: tuple[LineRequirements, ...] = ()
    requirements_connected: bool = False
    requirements_errors: dict = field(default_factory=dict)


def code_facts(hs6: str, national: str = "", *, requirements: bool = False,
               requirement_errors: dict | None = None) -> CodeFacts:
    """Facts for an HS code (2–6 digits) and the national digits typed after it ("" when none); with
    `requirements`, the stored 세관장확인대상 requirements of its lines too."""
    edition = current_edition()
    check = None
    prefix = hs6
    if len(national) == 4 and len(hs6) == 6:
        check = hsk_check(hs6 + national)
        prefix = hs6 + national if check.status == "valid" else hs6
    lines = tuple(hsk_lines(prefix, limit=60))
    rates = tariff_rates([line.code for line in lines])
    lookup_code = lines[0].code if len(lines) == 1 else prefix
    stored = tuple(requirements_for([line.code for line in lines], requirement_errors)) if requirements else ()
    return CodeFacts(
        edition=edition.edition if edition else "", lines=lines, rates=rates, check=check,
        lookup_url=tariff_lookup_url(lookup_code), requirements=stored,
        requirements_connected=requirements_service() is not None,
        requirements_errors=dict(requirement_errors or {}),
    )


# --- 세관장확인대상 requirements ------------------------------------------------------------------------------
@dataclass(frozen=True)
class RequirementView:
    law_code: str
    law_name: str
    agency_name: str
    document: str
    valid_from: dt.date | None


@dataclass(frozen=True)
class DirectionRequirements:
    direction: str  # "import" | "export"
    rows: tuple[RequirementView, ...]
    fetched: bool  # False: no answer held (not asked yet, or the service failed)
    fetched_at: dt.datetime | None
    source: str
    error_code: str = ""

    @property
    def source_name(self) -> str:
        return SOURCE_NAMES.get(self.source, self.source)


@dataclass(frozen=True)
class LineRequirements:
    code: str
    dotted: str
    import_: DirectionRequirements
    export: DirectionRequirements

    @property
    def directions(self) -> tuple[DirectionRequirements, DirectionRequirements]:
        return (self.import_, self.export)


def requirements_for(codes: list[str], errors: dict[tuple[str, str], str] | None = None) -> list[LineRequirements]:
    """The stored requirements of each HSK10 in `codes`, import then export; `errors` marks lookups that failed
    just now (their previous answer, if any, is still shown)."""
    errors = errors or {}
    lookups = {
        (lookup.code, lookup.direction): lookup
        for lookup in RequirementLookup.objects.filter(code__in=codes).prefetch_related("requirements")
    }

    def one(code: str, direction: str) -> DirectionRequirements:
        lookup = lookups.get((code, direction))
        if lookup is None:
            return DirectionRequirements(direction, (), False, None, "", errors.get((code, direction), ""))
        rows = tuple(
            RequirementView(r.law_code, r.law_name, r.agency_name, r.document, r.valid_from)
            for r in lookup.requirements.all()
        )
        return DirectionRequirements(direction, rows, True, lookup.fetched_at, lookup.source,
                                     errors.get((code, direction), ""))

    return [LineRequirements(code, dotted_hsk(code), one(code, "import"), one(code, "export")) for code in codes]


def requirements_oldest_fetch() -> dt.datetime | None:
    return RequirementLookup.objects.order_by("fetched_at").values_list("fetched_at", flat=True).first()


def requirement_laws(prefix: str, direction: str = "import") -> list[str]:
    """The distinct law names of the stored requirements of the HSK lines under `prefix` (6 or 10 digits), in
    line and row order: Korea's regulation types for the REGULATION button."""
    laws: list[str] = []
    rows = (
        Requirement.objects.filter(lookup__code__startswith=prefix, lookup__direction=direction)
        .order_by("lookup__code", "position").values_list("law_name", flat=True)
    )
    for law in rows:
        if law and law not in laws:
            laws.append(law)
    return laws

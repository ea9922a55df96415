"""Reads of loaded trade statistics (rows written by `manage.py import_trade_statistics`).

Which rows answer for a code (trade_scope):
1. rows reported at exactly that code (2, 4, 6 digits, or a 10-digit HSK line);
2. for a 10-digit code with no rows of its own, what answers for its 6-digit subheading;
3. for a 6-digit code, the sum of the 10-digit 관세청 national lines under it;
4. for a 6-digit code, its 4-digit heading.
The first rule that finds rows wins, so one figure is never counted at two levels.

A series is one (source, reporter, granularity): UN Comtrade and 관세청 figures, and yearly and
monthly figures, are never added together. Within a series the total of a period and flow is the
reported "World" row when the file has one, else the sum of the partner rows.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

from django.db.models import Count, Max, Min, Q, Sum

from .models import TradeFlow

WORLD = TradeFlow.WORLD
IMPORT, EXPORT = TradeFlow.Flow.IMPORT.value, TradeFlow.Flow.EXPORT.value
YEAR, MONTH = TradeFlow.Granularity.YEAR.value, TradeFlow.Granularity.MONTH.value
_SOURCE_ORDER = {TradeFlow.Source.KCS.value: 0, TradeFlow.Source.COMTRADE.value: 1}
TOP_PARTNERS = 10


@dataclass(frozen=True, slots=True)
class TradeScope:
    requested: str  # the digits asked for
    kind: str  # "exact", "national_lines", "heading" or "none"
    codes: tuple[str, ...]  # the hs_code values whose rows answer

    @property
    def code(self) -> str:
        """The single code the figures are at (the first line for national lines)."""
        return self.codes[0] if self.codes else self.requested


def trade_scope(code: str) -> TradeScope:
    if TradeFlow.objects.filter(hs_code=code).exists():
        return TradeScope(code, "exact", (code,))
    if len(code) == 10:
        inner = trade_scope(code[:6])
        return TradeScope(code, inner.kind if inner.kind != "exact" else "subheading", inner.codes)
    if len(code) == 6:
        lines = tuple(
            TradeFlow.objects.filter(hs_code__startswith=code)
            .values_list("hs_code", flat=True)
            .distinct()
            .order_by("hs_code")
        )
        if lines:
            return TradeScope(code, "national_lines", lines)
        if TradeFlow.objects.filter(hs_code=code[:4]).exists():
            return TradeScope(code, "heading", (code[:4],))
    return TradeScope(code, "none", ())


def trade_flows_for_code(code: str):
    """The rows that answer for `code` (see trade_scope)."""
    return TradeFlow.objects.filter(hs_code__in=trade_scope(code).codes)


def period_end(period: date, granularity: str) -> date:
    if granularity == YEAR:
        return date(period.year, 12, 31)
    return date(period.year, period.month, calendar.monthrange(period.year, period.month)[1])


def statistics_availability(code: str) -> dict:
    """The STATISTICS button's statisticsAvailable and dataRange, computed from what is loaded.

    export / import: a figure above zero is loaded for that flow; trends: some series has two or
    more periods; countries: the most partner countries (World totals excluded) of any one series;
    dataRange: first day of the earliest period to the last day of the latest, and when an import
    last created or changed one of these rows. dataRange is null when nothing is loaded.
    """
    rows = trade_flows_for_code(code)
    summary = rows.aggregate(
        imports=Count("id", filter=Q(flow=IMPORT, value_usd__gt=0)),
        exports=Count("id", filter=Q(flow=EXPORT, value_usd__gt=0)),
        start=Min("period"),
        latest=Max("imported_at"),
    )
    series = list(
        rows.values("source", "reporter", "granularity").annotate(
            periods=Count("period", distinct=True),
            partners=Count("partner", distinct=True, filter=~Q(partner=WORLD)),
            last=Max("period"),
        )
    )
    available = {
        "export": summary["exports"] > 0,
        "import": summary["imports"] > 0,
        "trends": any(s["periods"] >= 2 for s in series),
        "countries": max((s["partners"] for s in series), default=0),
    }
    data_range = None
    if summary["start"] is not None:
        end = max(period_end(s["last"], s["granularity"]) for s in series)
        data_range = {
            "startDate": summary["start"].isoformat(),
            "endDate": end.isoformat(),
            "latestUpdate": _utc_iso(summary["latest"]),
        }
    return {"statisticsAvailable": available, "dataRange": data_range}


def _utc_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- the statistics page ---------------------------------------------------------------------------

@dataclass(slots=True)
class FlowFigure:
    value: Decimal | None = None
    weight: Decimal | None = None
    weight_partial: bool = False  # some rows had no weight
    basis: str = ""  # "world" (a reported total) or "partners" (sum of partner rows)


@dataclass(slots=True)
class PeriodRow:
    period: date
    granularity: str
    imports: FlowFigure = field(default_factory=FlowFigure)
    exports: FlowFigure = field(default_factory=FlowFigure)

    @property
    def label(self) -> str:
        return str(self.period.year) if self.granularity == YEAR else f"{self.period.year}-{self.period.month:02d}"

    @property
    def basis(self) -> str:
        """'world', 'partners', 'mixed', or '' when neither flow has a figure."""
        bases = {f.basis for f in (self.imports, self.exports) if f.basis}
        return bases.pop() if len(bases) == 1 else ("mixed" if bases else "")

    @property
    def balance(self) -> Decimal | None:
        if self.imports.value is None or self.exports.value is None:
            return None
        return self.exports.value - self.imports.value


@dataclass(slots=True)
class PartnerRow:
    partner: str
    name: str
    import_value: Decimal = Decimal(0)
    export_value: Decimal = Decimal(0)

    @property
    def total(self) -> Decimal:
        return self.import_value + self.export_value


@dataclass(slots=True)
class Series:
    source: str
    reporter: str
    granularity: str
    years: list[int]  # every year this series has
    shown_years: list[int]  # the years the period filter selected
    periods: list[PeriodRow]
    partners: list[PartnerRow]
    partner_count: int
    import_total: Decimal | None
    export_total: Decimal | None
    source_files: list[str]
    latest_update: datetime | None

    @property
    def source_label(self) -> str:
        return TradeFlow.Source(self.source).label

    @property
    def key(self) -> str:
        return f"{self.source}-{self.reporter}-{self.granularity}".lower()

    @property
    def any_world_basis(self) -> bool:
        return any(p.imports.basis == "world" or p.exports.basis == "world" for p in self.periods)

    @property
    def any_partner_basis(self) -> bool:
        return any(p.imports.basis == "partners" or p.exports.basis == "partners" for p in self.periods)

    @property
    def any_weight_partial(self) -> bool:
        return any(p.imports.weight_partial or p.exports.weight_partial for p in self.periods)


@dataclass(slots=True)
class StatisticsReport:
    scope: TradeScope
    period: str  # "latest", "all" or a year "2023"
    available_years: list[int]
    series: list[Series]

    @property
    def loaded(self) -> bool:
        return self.scope.kind != "none"


def parse_period(raw: str | None) -> tuple[str, bool]:
    """('latest' | 'all' | 'YYYY', recognised?)."""
    text = (raw or "latest").strip().lower()
    if text in ("latest", "all"):
        return text, True
    if text.isdigit() and len(text) == 4 and 1900 <= int(text) <= 2100:
        return text, True
    return "latest", False


def statistics_report(code: str, period: str = "latest") -> StatisticsReport:
    scope = trade_scope(code)
    rows = TradeFlow.objects.filter(hs_code__in=scope.codes)
    series_keys = ("source", "reporter", "granularity")
    figures: dict[tuple, dict[tuple, dict[str, dict]]] = defaultdict(lambda: defaultdict(dict))
    aggregates = {
        "value": Sum("value_usd"), "weight": Sum("net_weight_kg"), "n": Count("id"), "weighed": Count("net_weight_kg")
    }
    for is_world, queryset in ((True, rows.filter(partner=WORLD)), (False, rows.exclude(partner=WORLD))):
        for row in queryset.values(*series_keys, "period", "flow").annotate(**aggregates).order_by():
            key = (row["source"], row["reporter"], row["granularity"])
            slot = figures[key][row["period"]]
            if is_world or row["flow"] not in slot:  # a reported World total wins over the partner sum
                slot[row["flow"]] = {**row, "basis": "world" if is_world else "partners"}

    all_years: set[int] = set()
    series_list: list[Series] = []
    for key in sorted(figures, key=lambda k: (_SOURCE_ORDER.get(k[0], 9), k[1], k[2] != YEAR)):
        source, reporter, granularity = key
        by_period = figures[key]
        years = sorted({p.year for p in by_period})
        all_years.update(years)
        if period == "all":
            shown_years = years
        elif period == "latest":
            shown_years = years[-1:]
        else:
            shown_years = [int(period)] if int(period) in years else []
        period_rows = []
        for when in sorted(p for p in by_period if p.year in shown_years):
            row = PeriodRow(period=when, granularity=granularity)
            for flow, target in ((IMPORT, row.imports), (EXPORT, row.exports)):
                data = by_period[when].get(flow)
                if data:
                    target.value = data["value"]
                    target.weight = data["weight"]
                    target.weight_partial = 0 < data["weighed"] < data["n"]
                    target.basis = data["basis"]
            period_rows.append(row)
        series_rows = rows.filter(source=source, reporter=reporter, granularity=granularity)
        partners, partner_count = _top_partners(series_rows, shown_years)
        latest = series_rows.aggregate(latest=Max("imported_at"))["latest"]
        files = sorted(set(series_rows.exclude(source_file="").values_list("source_file", flat=True).distinct()[:20]))
        series_list.append(
            Series(
                source=source, reporter=reporter, granularity=granularity, years=years, shown_years=shown_years,
                periods=period_rows, partners=partners, partner_count=partner_count,
                import_total=_sum(p.imports.value for p in period_rows),
                export_total=_sum(p.exports.value for p in period_rows),
                source_files=files, latest_update=latest,
            )
        )
    return StatisticsReport(scope=scope, period=period, available_years=sorted(all_years), series=series_list)


def _sum(values) -> Decimal | None:
    present = [v for v in values if v is not None]
    return sum(present, Decimal(0)) if present else None


def _top_partners(rows, years: list[int]) -> tuple[list[PartnerRow], int]:
    if not years:
        return [], 0
    partners: dict[str, PartnerRow] = {}
    selected = rows.exclude(partner=WORLD).filter(
        period__gte=date(min(years), 1, 1), period__lte=date(max(years), 12, 31)
    )
    sums = selected.values("partner", "flow").annotate(value=Sum("value_usd"), name=Max("partner_name")).order_by()
    for row in sums:
        entry = partners.get(row["partner"])
        if entry is None:
            entry = partners[row["partner"]] = PartnerRow(partner=row["partner"], name=row["name"] or row["partner"])
        if row["flow"] == IMPORT:
            entry.import_value += row["value"]
        else:
            entry.export_value += row["value"]
    ranked = sorted(partners.values(), key=lambda p: (-p.total, p.partner))
    return ranked[:TOP_PARTNERS], len(partners)

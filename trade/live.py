"""Trade statistics from the live nitemtrade service (data.go.kr 15100475), fetched the first time a page needs
them: the last 24 months per HS6, at most 12 months per call, every answer checked against its 총계 row, and
stored as monthly 관세청 TradeFlow rows (per HSK10 line and partner country) with a per-month record so a month is
fetched once. The operator's file import (import_trade_statistics) stays as it is.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from customs.editions import TRADE, edition_bump
from customs.live_services import service_client, service_configured
from kcs import live
from kcs.client import fetch_trade
from kcs.service_errors import KcsServiceError

from .models import NitemtradeFetch, NitemtradeMonth, TradeFlow

MONTHS_SHOWN = 24
SOURCE_FILE = "nitemtrade (공공데이터포털 15100475)"
RETRY_EMPTY_AFTER = dt.timedelta(hours=24)  # a finished fetch is not repeated sooner for months still missing
RETRY_FAILED_AFTER = dt.timedelta(minutes=5)  # a failed fetch is shown (with why) this long before a new try


def nitemtrade_connected() -> bool:
    return service_configured(live.NITEMTRADE)


def months_wanted(today: dt.date) -> list[dt.date]:
    """The 24 months before the current one (the current month is never published yet)."""
    index = today.year * 12 + today.month - 1
    return [dt.date((i - 1) // 12, (i - 1) % 12 + 1, 1) for i in range(index - MONTHS_SHOWN + 1, index + 1)]


def months_missing(hs6: str, today: dt.date) -> list[dt.date]:
    held = set(NitemtradeMonth.objects.filter(hs_code=hs6).values_list("month", flat=True))
    return [m for m in months_wanted(today) if m not in held]


def _yyyymm(month: dt.date) -> str:
    return f"{month.year:04d}{month.month:02d}"


def nitemtrade_request(hs6: str, *, now: dt.datetime | None = None,
                       force: bool = False) -> tuple[NitemtradeFetch | None, bool]:
    """Ask for the missing months of `hs6`: (its fetch record or None, whether the caller must enqueue
    trade.tasks.nitemtrade_fetch after commit). Nothing is asked when nitemtrade is not connected, when a fetch is
    queued or running, or when the last fetch finished within RETRY_EMPTY_AFTER."""
    if not nitemtrade_connected() or len(hs6) != 6:
        return None, False
    now = now or timezone.now()
    missing = months_missing(hs6, timezone.localdate(now))
    existing = NitemtradeFetch.objects.filter(hs_code=hs6).first()
    if existing is not None:
        if existing.status in (NitemtradeFetch.Status.QUEUED, NitemtradeFetch.Status.RUNNING):
            return existing, False
        age = now - existing.finished_at if existing.finished_at is not None else None
        done_recently = existing.status == NitemtradeFetch.Status.DONE and age is not None and age < RETRY_EMPTY_AFTER
        failed_recently = (
            existing.status == NitemtradeFetch.Status.FAILED and age is not None and age < RETRY_FAILED_AFTER
        )
        if not missing or (not force and (done_recently or failed_recently)):
            return existing, False
    elif not missing:
        return None, False
    spans = live.split_span(_yyyymm(missing[0]), _yyyymm(missing[-1]))
    fetch, _ = NitemtradeFetch.objects.update_or_create(
        hs_code=hs6,
        defaults={"status": NitemtradeFetch.Status.QUEUED, "error_code": "", "calls_total": len(spans),
                  "calls_done": 0, "requested_at": now, "finished_at": None},
    )
    return fetch, True


def nitemtrade_fetch(hs6: str) -> NitemtradeFetch:
    """The task's work: fetch the missing months span by span; a failed span stores nothing and ends the run."""
    updated = NitemtradeFetch.objects.filter(hs_code=hs6, status=NitemtradeFetch.Status.QUEUED).update(
        status=NitemtradeFetch.Status.RUNNING
    )
    fetch = NitemtradeFetch.objects.get(hs_code=hs6)
    if not updated:  # delivered twice (acks_late), or already done
        return fetch
    missing = months_missing(hs6, timezone.localdate())
    spans = live.split_span(_yyyymm(missing[0]), _yyyymm(missing[-1])) if missing else []
    client = service_client(live.NITEMTRADE)
    for first, last in spans:
        try:
            answer, _ = fetch_trade(client, hs6, first, last)
        except KcsServiceError as error:
            NitemtradeFetch.objects.filter(pk=fetch.pk).update(
                status=NitemtradeFetch.Status.FAILED, error_code=error.code, finished_at=timezone.now()
            )
            fetch.refresh_from_db()
            return fetch
        _store(hs6, first, answer)
        NitemtradeFetch.objects.filter(pk=fetch.pk).update(calls_done=fetch.calls_done + 1)
        fetch.refresh_from_db()
    NitemtradeFetch.objects.filter(pk=fetch.pk).update(status=NitemtradeFetch.Status.DONE, finished_at=timezone.now())
    fetch.refresh_from_db()
    return fetch


def _store(hs6: str, first: str, answer: live.TradeAnswer) -> None:
    """One checked answer: its rows as TradeFlow (replacing the same months), and its months as held."""
    if not answer.rows:
        return
    months = {row.month for row in answer.rows}
    newest = max(months)
    now = timezone.now()
    flows: dict[tuple[str, str, str, dt.date], list] = {}
    for row in answer.rows:
        period = dt.date(int(row.month[:4]), int(row.month[5:7]), 1)
        for flow, value, weight in (
            (TradeFlow.Flow.EXPORT, row.export_usd, row.export_kg),
            (TradeFlow.Flow.IMPORT, row.import_usd, row.import_kg),
        ):
            if value is None:  # "-" is "not reported", never 0
                continue
            key = (row.hs_code, row.country_code, flow.value, period)
            slot = flows.setdefault(key, [Decimal(0), None, row.country_name])
            slot[0] += Decimal(value)
            if weight is not None:
                slot[1] = (slot[1] or Decimal(0)) + Decimal(weight)
    start = dt.date(int(first[:4]), int(first[4:]), 1)
    end = dt.date(int(newest[:4]), int(newest[5:7]), 1)
    with transaction.atomic():
        TradeFlow.objects.filter(
            source=TradeFlow.Source.KCS, hs_code__startswith=hs6, granularity=TradeFlow.Granularity.MONTH,
            period__gte=start, period__lte=end, source_file=SOURCE_FILE,
        ).delete()
        TradeFlow.objects.bulk_create(
            TradeFlow(
                hs_code=code, reporter="KOR", partner=partner, partner_name=name, flow=flow, period=period,
                granularity=TradeFlow.Granularity.MONTH, value_usd=value, net_weight_kg=weight,
                source=TradeFlow.Source.KCS, source_file=SOURCE_FILE,
            )
            for (code, partner, flow, period), (value, weight, name) in flows.items()
        )
        counts: dict[dt.date, int] = {}
        for row in answer.rows:
            period = dt.date(int(row.month[:4]), int(row.month[5:7]), 1)
            counts[period] = counts.get(period, 0) + 1
        month = start
        while month <= end:
            NitemtradeMonth.objects.update_or_create(
                hs_code=hs6, month=month, defaults={"row_count": counts.get(month, 0), "fetched_at": now}
            )
            month = dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)
        edition_bump(TRADE, hs6)


def nitemtrade_refresh_all(*, progress=None) -> dict[str, int]:
    """For every HS6 fetched before: fetch its missing months now (in this process), whatever the last fetch's
    age. Returns {status: count}."""
    outcome: dict[str, int] = {}
    for hs6 in list(NitemtradeFetch.objects.values_list("hs_code", flat=True)):
        _fetch, asked = nitemtrade_request(hs6, force=True)
        status = nitemtrade_fetch(hs6).status if asked else "up_to_date"
        outcome[status] = outcome.get(status, 0) + 1
        if progress is not None:
            progress(1)
    return outcome

"""Celery tasks of the trade app. Thin: each calls one service."""

from __future__ import annotations

from celery import shared_task

from config.celery import DB_RETRY

from .live import nitemtrade_fetch


@shared_task(name="trade.tasks.nitemtrade_fetch", acks_late=True, **DB_RETRY)
def nitemtrade_fetch_task(hs6: str) -> None:
    nitemtrade_fetch(hs6)

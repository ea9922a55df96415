"""/healthz checks: the database, Redis, and at least one Celery worker answering a ping.

Each check reports {"status": "ok"|"fail", "latency_ms": ...} (plus "error" or details).
Redis and Celery are checked concurrently on a small thread pool, each bounded by
HEALTHZ_TIMEOUT_S, so a hung dependency cannot hold the request (daphne runs sync
views on one thread per process) for longer than that.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import redis
from django.conf import settings
from django.db import connection

_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="healthz")


class CheckFailed(Exception):
    pass


def check_database() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"vendor": connection.vendor}


def check_redis() -> dict[str, Any]:
    timeout = min(1.0, settings.HEALTHZ_TIMEOUT_S)
    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        client.ping()
    finally:
        client.close()
    return {}


def check_celery() -> dict[str, Any]:
    """Ping the workers through a throwaway Celery app: the process's own app (and its pooled broker
    connections, which task publishing uses) is never touched, so a check cannot disturb it."""
    from celery import Celery

    wait = settings.HEALTHZ_CELERY_TIMEOUT_S
    app = Celery("healthz", broker=settings.CELERY_BROKER_URL, set_as_current=False)
    app.conf.broker_connection_timeout = 1.0
    app.conf.broker_transport_options = {"socket_connect_timeout": 1.0, "socket_timeout": max(1.0, wait + 0.5)}
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=1.0)
            # limit=1: return as soon as one worker answers (no need to wait out the timeout).
            replies = app.control.ping(timeout=wait, limit=1, connection=conn) or []
    finally:
        app.close()
    workers = sorted(name for reply in replies for name in reply)
    if not workers:
        raise CheckFailed(f"no Celery worker answered within {wait:g} s")
    return {"workers": workers}


CHECKS = {"database": check_database, "redis": check_redis, "celery": check_celery}


def _timed(check) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        details = check()
        result: dict[str, Any] = {"status": "ok"}
        result.update(details)
    except Exception as exc:  # any failure is a failed check, never a 500
        result = {"status": "fail", "error": f"{type(exc).__name__}: {exc}"[:300]}
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


def run_checks() -> dict[str, dict[str, Any]]:
    """Every check's result; the database on the caller's thread (its connection), the rest in parallel."""
    futures = {name: _pool.submit(_timed, CHECKS[name]) for name in ("redis", "celery")}
    results = {"database": _timed(CHECKS["database"])}
    for name, future in futures.items():
        try:
            results[name] = future.result(timeout=settings.HEALTHZ_TIMEOUT_S)
        except FutureTimeout:
            results[name] = {"status": "fail", "error": f"timed out after {settings.HEALTHZ_TIMEOUT_S:g} s",
                             "latency_ms": round(settings.HEALTHZ_TIMEOUT_S * 1000, 1)}
    return results

"""The stack's own floor, measured in the same run: a plain WebSocket echo and a trivial Celery round trip.

    python -m bench.floor --url http://127.0.0.1:8000

floor_echo_ms:   client -> daphne -> client on /ws/bench/floor/ ("e:" frames, bench.floor_app).
floor_celery_ms: client -> daphne -> Celery task via the Redis broker -> worker -> the app's own broadcaster
                 (its long-lived loop and connection pool) -> channel layer -> daphne -> client ("c:" frames):
                 one Celery hop plus one broadcast along the app's path, the least any event of the app costs.
                 Sequential, one round trip at a time, on an otherwise idle stack.

When the stack has no floor route (a `make run` or compose stack that was not started by bench.run), the
echo falls back to the chat consumer's error frame (an unknown frame type: parse + reply, no database) and
the Celery floor to `celery.accumulate` through the broker and result backend (same Redis and worker, but
no daphne); the `method` field says which was measured.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import sys
import time
import uuid

import websockets

from . import common
from .floor_app import APP_BROADCASTERS, FLOOR_PATH


def _broadcaster_name() -> str:
    """Which of the app's modules the floor task will broadcast through (found without importing Django)."""
    for module, function, _ in APP_BROADCASTERS:
        try:
            if importlib.util.find_spec(module) is not None:
                return f"the app's {module}.{function}"
        except (ImportError, ValueError):
            continue
    return "a stand-in long-lived-loop broadcaster (the app's was not found)"


async def _round_trips(ws, prefix: str, count: int, warmup: int, timeout: float) -> common.Hist:
    hist = common.Hist()
    for i in range(warmup + count):
        token = f"{prefix}{uuid.uuid4().hex[:8]}:{i}"
        started = time.perf_counter()
        await ws.send(token)
        async with asyncio.timeout(timeout if i else max(timeout, 60)):
            while (await ws.recv()) != token:
                pass
        if i >= warmup:
            hist.add(time.perf_counter() - started)
    return hist


async def _floor_route(base_url: str, count: int, warmup: int) -> dict | None:
    try:
        ws = await websockets.connect(common.ws_base(base_url) + FLOOR_PATH, open_timeout=10, ping_interval=None,
                                      additional_headers={"Origin": base_url.rstrip("/")})
    except (websockets.InvalidStatus, websockets.InvalidHandshake, OSError):
        return None
    async with ws:
        echo = await _round_trips(ws, "e:", count, warmup, 10)
        celery = await _round_trips(ws, "c:", count, warmup, 30)
    return {
        "floor_echo_ms": {**echo.summary(), "method": "echo on /ws/bench/floor/ (same daphne)"},
        "floor_celery_ms": {**celery.summary(),
                            "method": f"ws -> daphne -> Celery bench.floor.echo -> {_broadcaster_name()} -> ws "
                                      "(same daphne, Redis, worker)"},
    }


async def _fallback(base_url: str, count: int, warmup: int, redis_url: str | None) -> dict:
    session = (await common.session_create(base_url))[0]
    hist = common.Hist()
    async with session.connect() as ws:
        for i in range(warmup + count):
            started = time.perf_counter()
            await ws.send(json.dumps({"type": "bench.echo"}))
            while json.loads(await ws.recv()).get("event") != "error":
                pass
            if i >= warmup:
                hist.add(time.perf_counter() - started)
    out = {"floor_echo_ms": {**hist.summary(), "method": "chat consumer error frame (no floor route)"}}
    broker = redis_url or os.environ.get("REDIS_URL")
    if broker:
        out["floor_celery_ms"] = await asyncio.to_thread(_celery_result_round_trips, broker, count, warmup)
    else:
        out["floor_celery_ms"] = {"count": 0, "p50": None, "p99": None, "method": "unavailable (no REDIS_URL)"}
    return out


def _celery_result_round_trips(broker: str, count: int, warmup: int) -> dict:
    from celery import Celery

    app = Celery(broker=broker, backend=broker)
    app.conf.task_default_queue = "chat"
    hist = common.Hist()
    try:
        for i in range(warmup + count):
            started = time.perf_counter()
            app.send_task("celery.accumulate", args=(i,), ignore_result=False).get(timeout=60)
            if i >= warmup:
                hist.add(time.perf_counter() - started)
    finally:
        app.close()
    return {**hist.summary(), "method": "celery.accumulate via broker + result backend (no daphne)"}


async def measure_floor(base_url: str, *, count: int = 200, warmup: int = 20, redis_url: str | None = None) -> dict:
    found = await _floor_route(base_url, count, warmup)
    return found if found is not None else await _fallback(base_url, count, warmup, redis_url)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.floor")
    parser.add_argument("--url", default=os.environ.get("BENCH_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL"))
    parser.add_argument("--count", type=int, default=200)
    args = parser.parse_args(argv)
    print(common.dumps(asyncio.run(measure_floor(args.url, count=args.count, redis_url=args.redis_url))))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Shared pieces: browser-like sessions over HTTP, WebSocket connections, histograms, Redis counters."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import os
import platform
import resource
import subprocess
from dataclasses import dataclass
from urllib.parse import urlparse

import httpx
import websockets
from hdrh.histogram import HdrHistogram

# The standard mix. Most messages name a product the classifier resolves to one HS code (Korean and English, with
# and without a code the person typed), so they take the full button path; UNCERTAIN ones name a product too
# vaguely for one code (the app answers with candidate codes or asks for details): about one message in five.
CERTAIN_TEXTS = (
    "아이폰 15 프로의 HS Code가 뭐야?",
    "8517.13 관세율 알려줘",
    "스테인리스 병따개 HS 코드",
    "전기자동차 수출 통계",
    "8471.30 수입 통계",
    "9018.90 의료기기 규제",
    "3304.99 화장품 수출",
    "0306.17 냉동 새우",
    "김치 수출 HS 코드",
    "라면 수출 관세",
    "electric bicycle HS code",
    "플라스틱 병 수입",
    "소주 수출 통계",
)
UNCERTAIN_TEXTS = (
    "부품 수입하려는데 HS 코드가 뭐예요?",
    "플라스틱 제품 수출 요건",
    "기계 수출할 때 관세",
)
TEXTS = (*CERTAIN_TEXTS[:5], UNCERTAIN_TEXTS[0], *CERTAIN_TEXTS[5:9], UNCERTAIN_TEXTS[1], *CERTAIN_TEXTS[9:],
         UNCERTAIN_TEXTS[2])


def cold_tag(n: int) -> str:
    """A classification-neutral suffix that makes a text unique for the detail-page cache.

    The cache key keeps control characters (hscode.services._question_key), the classifier turns them into
    spaces first (hscode.analysis.text.clean), so the analysis is that of the plain text but the cache misses.
    """
    out = ""
    while True:
        out += chr(1 + n % 8)
        n //= 8
        if not n:
            return out


def message_text(n: int, cold: bool, nonce: int = 0, texts: tuple[str, ...] | None = None) -> str:
    texts = texts or TEXTS
    text = texts[n % len(texts)]
    return f"{text} {cold_tag(nonce * 1_000_000 + n)}" if cold else text


def ws_base(base_url: str) -> str:
    return base_url.replace("http", "ws", 1).rstrip("/")


def http_port(base_url: str) -> int:
    parsed = urlparse(base_url)
    return parsed.port or (443 if parsed.scheme == "https" else 80)


def redis_port(redis_url: str | None) -> int | None:
    if not redis_url:
        return None
    return urlparse(redis_url).port or 6379


@dataclass
class Session:
    """One browser-like person: session + CSRF cookies and one conversation of their own."""

    base_url: str
    cookie_header: str
    conversation_id: str

    def connect(self, path: str | None = None, **kwargs):
        url = ws_base(self.base_url) + (path or f"/ws/chat/{self.conversation_id}/")
        options = dict(
            additional_headers={"Cookie": self.cookie_header, "Origin": self.base_url.rstrip("/")},
            max_size=2**22,
            open_timeout=60,
            close_timeout=5,
            ping_interval=None,  # the server's heartbeats are answered automatically
        )
        options.update(kwargs)
        return websockets.connect(url, **options)


async def session_create(base_url: str, conversations: int = 1) -> list[Session]:
    """GET / (session + csrftoken cookies), then POST /api/conversations/ with X-CSRFToken."""
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
        (await http.get("/")).raise_for_status()
        cookies = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
        out = []
        for _ in range(conversations):
            response = await http.post(
                "/api/conversations/", json={}, headers={"X-CSRFToken": http.cookies.get("csrftoken", "")}
            )
            response.raise_for_status()
            out.append(Session(base_url, cookies, response.json()["id"]))
        return out


async def sessions_create(base_url: str, count: int, concurrency: int = 8) -> list[Session]:
    """`count` people, each with their own conversation."""
    semaphore = asyncio.Semaphore(concurrency)

    async def one() -> Session:
        async with semaphore:
            return (await session_create(base_url))[0]

    return list(await asyncio.gather(*(one() for _ in range(count))))


class Hist:
    """Latencies in microseconds (1 µs .. 10 min, 3 significant digits); reported in ms."""

    def __init__(self) -> None:
        self.h = HdrHistogram(1, 600_000_000, 3)

    def add(self, seconds: float) -> None:
        self.h.record_value(max(1, min(600_000_000, int(seconds * 1_000_000))))

    @property
    def count(self) -> int:
        return self.h.get_total_count()

    def summary(self) -> dict:
        if not self.count:
            return {"count": 0, "p50": None, "p90": None, "p99": None, "p999": None, "max": None, "mean": None}
        q = self.h.get_value_at_percentile
        return {
            "count": self.count,
            "p50": round(q(50) / 1000, 3),
            "p90": round(q(90) / 1000, 3),
            "p99": round(q(99) / 1000, 3),
            "p999": round(q(99.9) / 1000, 3),
            "max": round(self.h.get_max_value() / 1000, 3),
            "mean": round(self.h.get_mean_value() / 1000, 3),
        }


def redis_commandstats(redis_url: str | None) -> dict[str, int] | None:
    """Calls per Redis command so far (INFO commandstats); None if Redis cannot be asked."""
    if not redis_url:
        return None
    try:
        import redis

        client = redis.Redis.from_url(redis_url, socket_timeout=5)
        try:
            stats = client.info("commandstats")
        finally:
            client.close()
    except Exception:
        return None
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


def counter_delta(before: dict[str, int] | None, after: dict[str, int] | None) -> dict[str, int]:
    if before is None or after is None:
        return {}
    return {k: after[k] - before.get(k, 0) for k in after if after[k] - before.get(k, 0) > 0}


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def machine() -> dict:
    info = {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}
    with contextlib.suppress(OSError):
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError):
        info["loadavg_at_start"] = [round(x, 2) for x in os.getloadavg()]
    with contextlib.suppress(Exception):
        info["git"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                     timeout=5).stdout.strip()
    return info


def dumps(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=2)


def iso_to_epoch(value: str | None) -> float | None:
    """A timestamp of the app's (2024-01-15T10:30:00.123Z) as seconds since the epoch."""
    if not value:
        return None
    try:
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


async def task_ends(http: httpx.AsyncClient, conversation_id: str) -> dict[int, dict[str, float | None]]:
    """For each person's message of a conversation: when each of tasks A, B and C ended (epoch seconds), read from
    the REST API's parallel_task_metrics (seed 002 shape: task_execution.task_a/b/c.end_time)."""
    out: dict[int, dict[str, float | None]] = {}
    url: str | None = f"/api/conversations/{conversation_id}/messages/?limit=100"
    while url:
        response = await http.get(url)
        response.raise_for_status()
        page = response.json()
        for message in page.get("results", []):
            if message.get("role") != "user":
                continue
            tasks = ((message.get("parallel_task_metrics") or {}).get("task_execution") or {})
            out[message["id"]] = {key: iso_to_epoch((tasks.get(key) or {}).get("end_time"))
                                  for key in ("task_a", "task_b", "task_c")}
        url = page.get("next")
    return out


async def delivery_stats(base_url: str) -> dict | None:
    """The bench daphne's delivery tap (bench.floor_asgi): frames live vs back-filled; None on another stack."""
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
            response = await http.get("/__bench__/delivery")
        if response.status_code != 200 or "json" not in response.headers.get("content-type", ""):
            return None
        stats = response.json()
        return stats if isinstance(stats, dict) and stats.get("installed") else None
    except (httpx.HTTPError, ValueError):
        return None

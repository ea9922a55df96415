"""Per-session and per-IP limits on new messages: a fixed window counted in Redis (shared by all daphnes)."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache

from .protocol import FrameError


def _parse(rule: str) -> tuple[int, int]:
    """'30/60' → 30 messages per 60 s; '0' (or empty) turns the limit off."""
    if not rule or rule.strip() == "0":
        return 0, 0
    count, _, seconds = rule.partition("/")
    return int(count), int(seconds or 60)


def _hit(key: str, limit: int, window: int) -> int | None:
    """Count one message in the current window; the seconds to wait when over the limit, else None."""
    now = time.time()
    bucket = int(now // window)
    cache_key = f"ratelimit:{key}:{bucket}"
    cache.add(cache_key, 0, timeout=window + 1)
    if cache.incr(cache_key) > limit:
        return int((bucket + 1) * window - now) + 1
    return None


def message_rate_check(*, owner_key: str, client_ip: str | None) -> None:
    """Raise FrameError('rate_limited') when the session or the address sent too many messages."""
    checks = [("session", owner_key, settings.CHAT_RATE_LIMIT_SESSION)]
    if client_ip:
        checks.append(("ip", client_ip, settings.CHAT_RATE_LIMIT_IP))
    for scope, key, rule in checks:
        limit, window = _parse(rule)
        if not limit:
            continue
        wait = _hit(f"{scope}:{key}", limit, window)
        if wait is not None:
            raise FrameError(
                "rate_limited", f"메시지를 너무 자주 보냈습니다. {wait}초 후에 다시 보내 주세요."
            )

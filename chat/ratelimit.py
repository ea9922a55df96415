"""Limits keyed on the session (or signed-in user) and on the client address, shared by all daphnes (Redis).

Rates are fixed windows, "count/seconds" ("0" turns a limit off):
- new messages, new conversations, replay requests (resync frames, reconnects with ?after, SSE resumes),
  👍/👎 votes on answers,
  and new anonymous sessions (per address only: a session is what is being created).
Open SSE streams are a concurrent count per session and per address (a sorted set of live streams, each
refreshed by its heartbeat, so a stream of a daphne that died stops counting after SSE_STREAM_TTL_S).

The client address is scope["client"], which daphne takes from X-Forwarded-For under --proxy-headers;
nginx replaces that header with the address it saw (deploy/nginx.conf), so a client cannot choose it.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import redis
from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext as _

from .protocol import FrameError


class RateLimited(FrameError):
    """Over a limit: the code the client shows, and the seconds after which it may try again."""

    def __init__(self, message: str, wait: int):
        super().__init__("rate_limited", message)
        self.wait = wait


@dataclass(frozen=True, slots=True)
class Limit:
    kind: str  # message, conversation, replay, session, feedback
    session_rule: str
    ip_rule: str


def _limits() -> dict[str, Limit]:
    return {
        "message": Limit("message", settings.CHAT_RATE_LIMIT_SESSION, settings.CHAT_RATE_LIMIT_IP),
        "conversation": Limit("conversation", settings.CHAT_RATE_LIMIT_CONVERSATION_SESSION,
                              settings.CHAT_RATE_LIMIT_CONVERSATION_IP),
        "replay": Limit("replay", settings.CHAT_RATE_LIMIT_REPLAY_SESSION, settings.CHAT_RATE_LIMIT_REPLAY_IP),
        "session": Limit("session", "0", settings.CHAT_RATE_LIMIT_NEW_SESSION_IP),
        "feedback": Limit("feedback", settings.CHAT_RATE_LIMIT_FEEDBACK_SESSION, settings.CHAT_RATE_LIMIT_FEEDBACK_IP),
    }


def _messages() -> dict[str, str]:
    return {
        "message": _("메시지를 너무 자주 보냈습니다. {wait}초 후에 다시 보내 주세요."),
        "conversation": _("새 대화를 너무 많이 만들었습니다. {wait}초 후에 다시 시도해 주세요."),
        "replay": _("다시 불러오기 요청이 너무 많습니다. {wait}초 후에 다시 시도해 주세요."),
        "session": _("이 주소에서 새 접속이 너무 많습니다. {wait}초 후에 다시 시도해 주세요."),
        "feedback": _("평가를 너무 자주 보냈습니다. {wait}초 후에 다시 시도해 주세요."),
    }


def _parse(rule: str) -> tuple[int, int]:
    """'30/60' → 30 per 60 s; '0' (or empty) turns the limit off."""
    if not rule or rule.strip() == "0":
        return 0, 0
    count, _sep, seconds = rule.partition("/")
    return int(count), int(seconds or 60)


def _hit(key: str, limit: int, window: int) -> int | None:
    """Count one in the current window; the seconds to wait when over the limit, else None."""
    now = time.time()
    bucket = int(now // window)
    cache_key = f"ratelimit:{key}:{bucket}"
    cache.add(cache_key, 0, timeout=window + 1)
    if cache.incr(cache_key) > limit:
        return int((bucket + 1) * window - now) + 1
    return None


def owner_rate_key(user_id: int | None, session_key: str) -> str:
    return f"user:{user_id}" if user_id else f"session:{session_key}"


def rate_check(kind: str, *, owner_key: str | None, client_ip: str | None) -> None:
    """Count one `kind` action; raise RateLimited when the session or the address is over its limit."""
    limit = _limits()[kind]
    checks = []
    if owner_key:
        checks.append(("session", owner_key, limit.session_rule))
    if client_ip:
        checks.append(("ip", client_ip, limit.ip_rule))
    for scope, key, rule in checks:
        count, window = _parse(rule)
        if not count:
            continue
        wait = _hit(f"{kind}:{scope}:{key}", count, window)
        if wait is not None:
            raise RateLimited(_messages()[kind].format(wait=wait), wait)


def message_rate_check(*, owner_key: str, client_ip: str | None) -> None:
    """Raise RateLimited ('rate_limited') when the session or the address sent too many messages."""
    rate_check("message", owner_key=owner_key, client_ip=client_ip)


# --- open SSE streams: a concurrent count -------------------------------------------------------

_redis: redis.Redis | None = None


def _client() -> redis.Redis:
    global _redis
    if _redis is None:
        _redis = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    return _redis


def _stream_keys(owner_key: str | None, client_ip: str | None) -> list[tuple[str, int]]:
    keys = []
    if owner_key and settings.SSE_STREAMS_MAX_SESSION:
        keys.append((f"tradechat:sse:session:{owner_key}", settings.SSE_STREAMS_MAX_SESSION))
    if client_ip and settings.SSE_STREAMS_MAX_IP:
        keys.append((f"tradechat:sse:ip:{client_ip}", settings.SSE_STREAMS_MAX_IP))
    return keys


def stream_open(*, owner_key: str | None, client_ip: str | None) -> str:
    """Register an open stream; raise RateLimited when the session or the address already has its maximum."""
    stream_id = uuid.uuid4().hex
    now = time.time()
    client = _client()
    added: list[str] = []
    for key, maximum in _stream_keys(owner_key, client_ip):
        with client.pipeline() as pipe:
            pipe.zremrangebyscore(key, 0, now - settings.SSE_STREAM_TTL_S)
            pipe.zadd(key, {stream_id: now})
            pipe.zcard(key)
            pipe.expire(key, settings.SSE_STREAM_TTL_S)
            count = pipe.execute()[2]
        added.append(key)
        if count > maximum:
            for done in added:
                client.zrem(done, stream_id)
            raise RateLimited(_("열린 실시간 연결이 너무 많습니다. 다른 창을 닫고 다시 시도해 주세요."),
                              settings.SSE_HEARTBEAT_S)
    return stream_id


def stream_refresh(stream_id: str, *, owner_key: str | None, client_ip: str | None) -> None:
    now = time.time()
    for key, _maximum in _stream_keys(owner_key, client_ip):
        _client().zadd(key, {stream_id: now}, xx=True)


def stream_close(stream_id: str, *, owner_key: str | None, client_ip: str | None) -> None:
    for key, _maximum in _stream_keys(owner_key, client_ip):
        _client().zrem(key, stream_id)

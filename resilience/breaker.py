"""A circuit breaker whose state every process shares through Redis.

Why not pybreaker's CircuitRedisStorage (pybreaker 1.4.1 is installed): it
works with redis-py 8 only when the client has `decode_responses=False`
(it calls `.decode()` on the stored state, and raises AttributeError
otherwise); its async support is Tornado-only (`call_async` needs
`tornado.gen`), and its storage is synchronous, so an asyncio caller would
block the event loop on 4-8 Redis round trips per call; the failure counter
is incremented and then read in two separate commands, so concurrent
processes race around the threshold; `opened_at` is stored in whole
seconds, so a sub-second reset timeout (handy in tests) is imprecise; and
its keys never expire. This module keeps pybreaker's model (closed -> open
after `fail_max` consecutive failures -> half-open after `reset_timeout` ->
closed on a successful probe, or open again on a failed one) but runs each
transition as one atomic Lua script, using the Redis server clock, so the
sync and async drivers share the same logic and every process sees the same
state at once.

Half-open admits one probe at a time: the probe holds a lease
(`probe_lease_s`); other callers get a CIRCUIT_OPEN error until it reports
back or the lease runs out.

State changes are reported to listeners (`BreakerListener.state_change`);
the default listener logs them. A process also reports changes made by other
processes the first time it notices them (origin "observed").
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Protocol

from .config import BreakerConfig
from .effects import RedisOp

# The logger keeps its historical name: operators' log filters and alerts match it.
logger = logging.getLogger("context7_client.breaker")

STATE_CLOSED = "closed"
STATE_OPEN = "open"
STATE_HALF_OPEN = "half-open"

# KEYS[1]: breaker hash. ARGV: op ("allow"|"success"|"failure"|"status"), fail_max,
# reset_ms, lease_ms, ttl_s. Returns {old_state, new_state, allowed, wait_ms, failures}.
_SCRIPT = """
local key = KEYS[1]
local op = ARGV[1]
local fail_max = tonumber(ARGV[2])
local reset_ms = tonumber(ARGV[3])
local lease_ms = tonumber(ARGV[4])
local ttl = tonumber(ARGV[5])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HGET', key, 'state') or 'closed'
local failures = tonumber(redis.call('HGET', key, 'failures') or '0')
local opened_at = tonumber(redis.call('HGET', key, 'opened_at') or '0')
local probe_until = tonumber(redis.call('HGET', key, 'probe_until') or '0')
local new = state
local allowed = 1
local wait = 0
if op == 'allow' then
  if state == 'open' then
    if now - opened_at >= reset_ms then
      new = 'half-open'
      probe_until = now + lease_ms
    else
      allowed = 0
      wait = opened_at + reset_ms - now
    end
  elseif state == 'half-open' then
    if now < probe_until then
      allowed = 0
      wait = probe_until - now
    else
      probe_until = now + lease_ms
    end
  end
elseif op == 'success' then
  if state ~= 'open' then
    new = 'closed'
    failures = 0
    probe_until = 0
  end
elseif op == 'failure' then
  if state == 'half-open' then
    new = 'open'
    opened_at = now
    probe_until = 0
    failures = failures + 1
  elseif state == 'closed' then
    failures = failures + 1
    if failures >= fail_max then
      new = 'open'
      opened_at = now
    end
  end
elseif op == 'status' then
  if state == 'open' then
    wait = math.max(0, opened_at + reset_ms - now)
  elseif state == 'half-open' then
    wait = math.max(0, probe_until - now)
  end
end
if op ~= 'status' then
  redis.call('HSET', key, 'state', new, 'failures', failures, 'opened_at', opened_at, 'probe_until', probe_until)
  redis.call('EXPIRE', key, ttl)
end
return {state, new, allowed, wait, failures}
"""


class BreakerSettings(Protocol):
    """What the breaker reads from a client's configuration (Context7Config and KcsServiceConfig have it)."""

    @property
    def breaker(self) -> BreakerConfig: ...
    @property
    def redis_url(self) -> str | None: ...
    @property
    def redis_prefix(self) -> str: ...
    @property
    def probe_lease_s(self) -> float: ...


@dataclass(frozen=True, slots=True)
class BreakerStatus:
    state: str
    failures: int
    retry_after_s: float  # until a probe may pass (open) or the probe lease ends (half-open)
    allowed: bool = True
    shared: bool = True  # False when Redis is unavailable and the breaker fails open

    def to_dict(self) -> dict:
        return {
            "state": self.state,
            "failures": self.failures,
            "retry_after_s": self.retry_after_s,
            "shared": self.shared,
        }


class BreakerListener:
    """Override `state_change`; origin is "local" (this process made the change) or "observed"."""

    def state_change(self, name: str, old: str, new: str, origin: str) -> None:  # pragma: no cover - interface
        pass


class LoggingBreakerListener(BreakerListener):
    def state_change(self, name: str, old: str, new: str, origin: str) -> None:
        level = logging.WARNING if new == STATE_OPEN else logging.INFO
        logger.log(level, "circuit breaker %r: %s -> %s (%s)", name, old, new, origin)


_UNAVAILABLE = object()  # fallback sent back by drivers when Redis fails


class BreakerCore:
    """Builds the Redis commands of the breaker and interprets their replies (no I/O)."""

    def __init__(self, config: BreakerSettings, listeners: tuple[BreakerListener, ...]) -> None:
        self._config = config
        self._listeners = listeners
        self._last_state: str | None = None
        self._lock = threading.Lock()
        self.key = f"{config.redis_prefix}:breaker:{config.breaker.name}"

    @property
    def enabled(self) -> bool:
        return self._config.breaker.enabled and self._config.redis_url is not None

    def command(self, op: str) -> RedisOp:
        breaker = self._config.breaker
        ttl_s = max(3600, int(breaker.reset_timeout_s * 10))
        return RedisOp(
            "eval",
            (
                _SCRIPT,
                1,
                self.key,
                op,
                breaker.fail_max,
                int(breaker.reset_timeout_s * 1000),
                int(self._config.probe_lease_s * 1000),
                ttl_s,
            ),
            fallback=_UNAVAILABLE,
        )

    def interpret(self, reply: object) -> BreakerStatus:
        if reply is _UNAVAILABLE or not isinstance(reply, list | tuple) or len(reply) != 5:
            # Fail open: without Redis each call is allowed (the cache is down too, so
            # this only happens when the whole Redis server is unreachable).
            return BreakerStatus(state=STATE_CLOSED, failures=0, retry_after_s=0.0, allowed=True, shared=False)
        old, new, allowed, wait_ms, failures = reply
        old, new = _text(old), _text(new)
        self._notify(old, new)
        return BreakerStatus(
            state=new,
            failures=int(failures),
            retry_after_s=round(int(wait_ms) / 1000.0, 3),
            allowed=bool(int(allowed)),
        )

    def _notify(self, old: str, new: str) -> None:
        with self._lock:
            seen = self._last_state
            self._last_state = new
        changes: list[tuple[str, str, str]] = []
        if seen is not None and seen != old:
            changes.append((seen, old, "observed"))
        if old != new:
            changes.append((old, new, "local"))
        for before, after, origin in changes:
            for listener in self._listeners:
                try:
                    listener.state_change(self._config.breaker.name, before, after, origin)
                except Exception:  # a listener must never break a lookup
                    logger.exception("circuit breaker listener %r failed", listener)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)

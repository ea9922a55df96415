"""The client of the live KCS services, built on the shared resilience core (resilience/): an overall time
budget per lookup, stamina retries that fit in it, a circuit breaker per service shared through Redis, and a
Redis cache that stores only answers that parsed as a success (nothing from an error is ever cached).

Keys are one per service. They go only into the query string of the request; the httpx request log and every
error message have them removed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, TypeVar

import httpx
import redis
from redis.exceptions import RedisError

from resilience.breaker import BreakerCore, LoggingBreakerListener
from resilience.config import BreakerConfig, CacheConfig, RetryConfig
from resilience.effects import RedisOp
from resilience.retry import retry_context, retry_decision

from . import live
from . import service_errors as codes
from .service_errors import KcsServiceError

logger = logging.getLogger("kcs.client")
T = TypeVar("T")
CACHE_FORMAT = 1
_KEY_IN_URL = re.compile(r"((?:serviceKey|crkyCn)=)[^&\s\"']*", re.IGNORECASE)


def redact(text: str) -> str:
    """`text` with the value of every serviceKey= / crkyCn= removed."""
    return _KEY_IN_URL.sub(r"\1***", text)


class _RedactKeys(logging.Filter):
    """httpx logs every request URL at INFO; the URL carries the key in its query string."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.args = tuple(redact(str(a)) if "=" in str(a) else a for a in record.args)
        record.msg = redact(str(record.msg))
        return True


logging.getLogger("httpx").addFilter(_RedactKeys())


@dataclass(frozen=True, slots=True)
class KcsServiceConfig:
    """One service: where it lives, its key, and its resilience settings."""

    service: str
    base_url: str
    key: str = ""
    budget_s: float = 8.0
    connect_timeout_s: float = 2.0
    read_timeout_s: float = 6.0
    retry: RetryConfig = field(default_factory=lambda: RetryConfig(attempts=2, wait_initial_s=0.2, wait_max_s=1.0))
    breaker: BreakerConfig = field(default_factory=lambda: BreakerConfig(fail_max=5, reset_timeout_s=60.0))
    cache: CacheConfig = field(default_factory=lambda: CacheConfig(ttl_s=24 * 3600, empty_ttl_s=6 * 3600))
    redis_url: str | None = None
    redis_prefix: str = "kcs"
    max_body_bytes: int = 25_000_000  # a 12-month nitemtrade answer for a broad code can reach ~21 MB (§8)

    def __post_init__(self) -> None:
        if self.service not in live.PATHS:
            raise ValueError(f"unknown KCS service {self.service!r}")
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))
        object.__setattr__(self, "breaker", BreakerConfig(**{**_fields(self.breaker), "name": self.service}))

    @property
    def configured(self) -> bool:
        return bool(self.key)

    @property
    def probe_lease_s(self) -> float:
        return self.breaker.probe_lease_s if self.breaker.probe_lease_s is not None else self.budget_s + 0.5

    def __repr__(self) -> str:  # never show the key
        key = "set" if self.key else "unset"
        return f"KcsServiceConfig(service={self.service!r}, base_url={self.base_url!r}, key={key})"


def _fields(config: BreakerConfig) -> dict[str, Any]:
    return {name: getattr(config, name) for name in config.__slots__}


@dataclass(frozen=True)
class Fetched:
    """A successful answer: the parsed value, whether it came from the cache, and when it was fetched."""

    value: Any
    cache_hit: bool
    fetched_at: float  # Unix time of the HTTP answer (for a cache hit: when it was first fetched)


class KcsServiceClient:
    """Calls one service. Thread-safe; one per service per process is enough."""

    def __init__(
        self,
        config: KcsServiceConfig,
        *,
        http: httpx.Client | None = None,
        redis_client: redis.Redis | None = None,
    ) -> None:
        self.config = config
        self._http = http or httpx.Client(follow_redirects=False)
        if redis_client is None and config.redis_url:
            redis_client = redis.Redis.from_url(config.redis_url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._redis = redis_client
        self.breaker = BreakerCore(config, (LoggingBreakerListener(),))
        self.stats_key = f"{config.redis_prefix}:stats"

    def close(self) -> None:
        self._http.close()
        if self._redis is not None:
            self._redis.close()

    # --- the flow ------------------------------------------------------------
    def fetch(self, params: dict[str, str], interpret: Callable[[int, bytes], T], *, use_cache: bool = True) -> Fetched:
        """cache → breaker → HTTP exchange with retries → interpret → breaker → cache (successes only)."""
        service = self.config.service
        if not self.config.configured:
            raise KcsServiceError(codes.NOT_CONFIGURED, f"no key is configured for {service}", service=service)
        key = self.cache_key(params)
        if use_cache and self.config.cache.enabled:
            stored = self._redis_op(RedisOp("get", (key,)))
            if stored is not None:
                try:
                    payload = json.loads(stored)
                    if payload.get("v") == CACHE_FORMAT:
                        value = interpret(200, payload["body"].encode("utf-8"))
                        self._count(cache_hits=1)
                        return Fetched(value=value, cache_hit=True, fetched_at=float(payload["fetched_at"]))
                except (ValueError, KeyError, TypeError, KcsServiceError):
                    logger.warning("kcs %s: unreadable cache entry ignored", service)
        if self.breaker.enabled:
            status = self.breaker.interpret(self._redis_op(self.breaker.command("allow")))
            if not status.allowed:
                self._count(**{f"errors:{codes.CIRCUIT_OPEN}": 1})
                raise KcsServiceError(
                    codes.CIRCUIT_OPEN,
                    f"{service} circuit breaker is {status.state}; next try in {status.retry_after_s:.0f} s",
                    service=service,
                    retry_after=status.retry_after_s,
                )
        state = {"attempts": 0}  # HTTP attempts made by this lookup (per call: the client is shared by threads)
        try:
            value, body = self._exchange(params, interpret, state)
            attempts = state["attempts"]
        except KcsServiceError as error:
            attempts = state["attempts"]
            if self.breaker.enabled and attempts:
                self.breaker.interpret(
                    self._redis_op(self.breaker.command("failure" if error.is_breaker_failure else "success"))
                )
            self._count(calls=attempts, **{f"errors:{error.code}": 1})
            logger.warning("kcs %s failed: %s", service, redact(str(error)))
            raise
        if self.breaker.enabled:
            self.breaker.interpret(self._redis_op(self.breaker.command("success")))
        self._count(calls=attempts)
        fetched_at = time.time()
        ttl = self.config.cache.ttl_s if _has_content(value) else self.config.cache.empty_ttl_s
        if self.config.cache.enabled and ttl:
            payload = json.dumps({"v": CACHE_FORMAT, "body": body.decode("utf-8"), "fetched_at": fetched_at})
            self._redis_op(RedisOp("set", (key, payload), {"ex": ttl}))
            self._redis_op(RedisOp("zadd", (f"{self.config.redis_prefix}:fetched:{service}", {key: fetched_at})))
        return Fetched(value=value, cache_hit=False, fetched_at=fetched_at)

    def cache_key(self, params: dict[str, str]) -> str:
        identity = json.dumps([CACHE_FORMAT, self.config.base_url, self.config.service, sorted(params.items())])
        return f"{self.config.redis_prefix}:cache:{self.config.service}:{hashlib.sha256(identity.encode()).hexdigest()}"

    def stats(self) -> dict[str, int]:
        raw = self._redis_op(RedisOp("hgetall", (self.stats_key,), fallback={})) or {}
        prefix = f"{self.config.service}:"
        return {
            _text(k)[len(prefix) :]: int(v) for k, v in raw.items() if _text(k).startswith(prefix)
        }

    def oldest_cached_at(self) -> float | None:
        """Unix time of the oldest answer still cached (entries whose cache key expired are pruned)."""
        index = f"{self.config.redis_prefix}:fetched:{self.config.service}"
        while True:
            oldest = self._redis_op(RedisOp("zrange", (index, 0, 0), {"withscores": True}, fallback=[])) or []
            if not oldest:
                return None
            member, score = oldest[0]
            if self._redis_op(RedisOp("exists", (member,), fallback=1)):
                return float(score)
            self._redis_op(RedisOp("zrem", (index, member)))

    # --- I/O -----------------------------------------------------------------
    def _exchange(
        self, params: dict[str, str], interpret: Callable[[int, bytes], T], made: dict[str, int]
    ) -> tuple[T, bytes]:
        config = self.config
        deadline = time.monotonic() + config.budget_s
        url = config.base_url + live.PATHS[config.service]
        query = {live.KEY_PARAMS[config.service]: config.key, **params}
        state = {"attempt": 0, "next_wait_upper": 0.0}

        def should_retry(exc: Exception) -> bool | float:
            if not isinstance(exc, KcsServiceError):
                return False
            return retry_decision(
                retry=config.retry,
                label=f"kcs {config.service}",
                code=exc.code,
                retryable=exc.is_retryable,
                retry_after=exc.retry_after,
                attempt=state["attempt"],
                remaining_s=deadline - time.monotonic(),
                next_wait_upper_s=state["next_wait_upper"],
            )

        for attempt in retry_context(config.retry, config.budget_s, should_retry):
            with attempt:
                state["attempt"] = attempt.num
                state["next_wait_upper"] = attempt.next_wait + config.retry.wait_jitter_s
                remaining = deadline - time.monotonic()
                if remaining < config.retry.min_attempt_s:
                    raise KcsServiceError(
                        codes.TIMEOUT, f"lookup budget of {config.budget_s:.1f} s used up", service=config.service
                    )
                made["attempts"] = attempt.num
                status, body = self._send(url, query, remaining, deadline)
                return interpret(status, body), body
        raise AssertionError("unreachable")  # stamina re-raises the last error

    def _send(self, url: str, query: dict[str, str], remaining: float, deadline: float) -> tuple[int, bytes]:
        config = self.config
        connect = min(config.connect_timeout_s, remaining)
        read = min(config.read_timeout_s, remaining)
        timeout = httpx.Timeout(connect=connect, read=read, write=read, pool=connect)
        chunks: list[bytes] = []
        size = 0
        try:
            with self._http.stream("GET", url, params=query, timeout=timeout) as response:
                for chunk in response.iter_bytes():
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > config.max_body_bytes:
                        raise KcsServiceError(
                            codes.MALFORMED, f"answer larger than {config.max_body_bytes} bytes", service=config.service
                        )
                    if time.monotonic() > deadline:
                        raise KcsServiceError(
                            codes.TIMEOUT,
                            f"lookup budget of {config.budget_s:.1f} s ran out while reading",
                            service=config.service,
                        )
                status = response.status_code
        except httpx.TimeoutException as exc:
            raise KcsServiceError(
                codes.TIMEOUT, f"no answer in time ({type(exc).__name__})", service=config.service
            ) from None
        except httpx.HTTPError as exc:
            raise KcsServiceError(
                codes.NETWORK, redact(f"network error: {type(exc).__name__}: {exc}"), service=config.service
            ) from None
        return status, b"".join(chunks)

    def _redis_op(self, op: RedisOp) -> Any:
        if self._redis is None:
            return op.fallback
        try:
            return getattr(self._redis, op.method)(*op.args, **op.kwargs)
        except RedisError as exc:
            logger.warning("kcs Redis %s failed (%s); continuing without it", op.method, type(exc).__name__)
            return op.fallback

    def _count(self, **fields: int) -> None:
        if self._redis is None:
            return
        for name, amount in fields.items():
            if amount:
                self._redis_op(RedisOp("hincrby", (self.stats_key, f"{self.config.service}:{name}", amount)))


def _has_content(value: Any) -> bool:
    if isinstance(value, live.TradeAnswer):
        return bool(value.rows)
    if isinstance(value, live.UnipassAnswer):
        return bool(value.rows)
    try:
        return bool(len(value))
    except TypeError:
        return True


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# --- the four questions --------------------------------------------------------
def fetch_requirements(
    client: KcsServiceClient, hs_code: str, direction: str
) -> tuple[list[live.Requirement], Fetched]:
    """세관장확인대상 rows of one HSK10 and direction (data.go.kr 15101589 or UNI-PASS API029)."""
    code = live.check_hs10(hs_code)
    imex = live.direction_code(direction)
    service = client.config.service
    if service == live.CCCT_GW:
        fetched = client.fetch({"hsSgn": code, "imexTpcd": imex}, lambda s, b: live.gateway_items(service, s, b))
        return live.requirements_from_gateway(code, direction, fetched.value), fetched
    if service == live.CCCT_UNIPASS:
        fetched = client.fetch({"hsSgn": code, "imexTp": imex}, lambda s, b: live.unipass_rows(service, s, b))
        return live.requirements_from_unipass(code, direction, fetched.value), fetched
    raise ValueError(f"{service} does not answer requirements")


def fetch_trade(client: KcsServiceClient, hs_code: str, first: str, last: str) -> tuple[live.TradeAnswer, Fetched]:
    """nitemtrade for one HS code (2/4/6/10 digits) and a span of at most 12 months (YYYYMM..YYYYMM)."""
    if not re.fullmatch(r"\d{2}|\d{4}|\d{6}|\d{10}", hs_code or ""):
        raise ValueError(f"nitemtrade takes an HS code of 2, 4, 6 or 10 digits, got {hs_code!r}")
    live.check_span(first, last)
    service = client.config.service
    fetched = client.fetch(
        {"strtYymm": first, "endYymm": last, "hsSgn": hs_code},
        lambda s, b: live.trade_answer(service, live.gateway_items(service, s, b)),
    )
    return fetched.value, fetched


def week_start(day: date) -> date:
    """The Sunday that starts the customs exchange-rate week of `day` (rates apply Sunday–Saturday, §7)."""
    return day - timedelta(days=(day.weekday() + 1) % 7)


def fetch_exchange_rates(client: KcsServiceClient, day: date) -> tuple[list[live.ExchangeRate], Fetched]:
    """The week's import 관세환율 (data.go.kr 15101230, weekFxrtTpcd=2)."""
    service = client.config.service
    sunday = week_start(day)
    fetched = client.fetch(
        {"aplyBgnDt": sunday.strftime("%Y%m%d"), "weekFxrtTpcd": "2"},
        lambda s, b: live.gateway_items(service, s, b),
    )
    return live.exchange_rates(fetched.value, sunday), fetched


def fetch_tariff_rows(client: KcsServiceClient, hs_code: str) -> tuple[list[live.LiveTariffRow], Fetched]:
    """UNI-PASS API030 rows (every rate type) of one HSK10."""
    code = live.check_hs10(hs_code)
    service = client.config.service
    fetched = client.fetch({"hsSgn": code}, lambda s, b: live.unipass_rows(service, s, b))
    return live.tariff_rows(code, fetched.value), fetched

"""Configuration of the Context7 client: one frozen dataclass per resilience concern."""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_BASE_URL = "https://context7.com/api"
CLIENT_VERSION = "0.1.0"


@dataclass(frozen=True, slots=True)
class RetryConfig:
    """Retries of one lookup, driven by stamina (exponential backoff plus jitter).

    Retried: network errors, timeouts, truncated bodies, 5xx and 429. Never
    retried: any other 4xx, malformed 2xx bodies. A retry is only scheduled
    when the longest possible backoff (or the server's Retry-After) plus
    `min_attempt_s` still fits in the remaining budget of the lookup.
    """

    attempts: int = 3  # total attempts per lookup, the first one included
    wait_initial_s: float = 0.1
    wait_max_s: float = 0.5
    wait_jitter_s: float = 0.1
    wait_exp_base: float = 2.0
    honour_retry_after: bool = True
    min_attempt_s: float = 0.05  # never start an attempt with less budget than this


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    """Circuit breaker whose state lives in Redis, shared by every process using the same prefix.

    One lookup (with its retries) counts as one call. Failures: timeouts, network
    errors, 5xx, 429 and malformed bodies. Other 4xx mean the service is up and
    count as successes.
    """

    enabled: bool = True
    fail_max: int = 5  # consecutive failed lookups that open the circuit
    reset_timeout_s: float = 30.0  # how long it stays open before a half-open probe
    probe_lease_s: float | None = None  # how long one half-open probe holds the slot (default: budget + 0.5 s)
    name: str = "default"


@dataclass(frozen=True, slots=True)
class CacheConfig:
    """Redis cache of successful lookups; hits and misses are counted in `{prefix}:stats`."""

    enabled: bool = True
    ttl_s: int = 3600
    empty_ttl_s: int = 300  # for results with no library / no snippet


@dataclass(frozen=True, slots=True)
class Context7Config:
    base_url: str = DEFAULT_BASE_URL  # must include the /api suffix, like CONTEXT7_API_URL upstream
    api_key: str = ""
    budget_s: float = 2.0  # overall time budget of one lookup, retries and backoff included
    connect_timeout_s: float = 0.5
    read_timeout_s: float = 1.5
    retry: RetryConfig = field(default_factory=RetryConfig)
    breaker: BreakerConfig = field(default_factory=BreakerConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)
    # Redis holds the cache, the counters and the breaker state. None disables all three.
    redis_url: str | None = None
    redis_prefix: str = "context7"
    redis_timeout_s: float = 0.2  # socket connect/read timeout of Redis commands
    max_body_bytes: int = 2_000_000
    # Client identification headers (upstream clients send the same family).
    source: str = "tradechat"
    client_ide: str = "tradechat-context7-client"
    client_version: str = CLIENT_VERSION
    transport: str = "http"

    def __post_init__(self) -> None:
        if self.budget_s <= 0:
            raise ValueError("budget_s must be positive")
        if self.retry.attempts < 1:
            raise ValueError("retry.attempts must be at least 1")
        if self.breaker.fail_max < 1:
            raise ValueError("breaker.fail_max must be at least 1")
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))

    @property
    def probe_lease_s(self) -> float:
        lease = self.breaker.probe_lease_s
        return lease if lease is not None else self.budget_s + 0.5

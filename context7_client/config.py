"""Configuration of the Context7 client; the resilience parts (retry, breaker, cache) are shared (resilience/)."""

from __future__ import annotations

from dataclasses import dataclass, field

from resilience.config import BreakerConfig, CacheConfig, RetryConfig

DEFAULT_BASE_URL = "https://context7.com/api"
CLIENT_VERSION = "0.1.0"

__all__ = ["CLIENT_VERSION", "DEFAULT_BASE_URL", "BreakerConfig", "CacheConfig", "Context7Config", "RetryConfig"]


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

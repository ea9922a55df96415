"""Resilience settings shared by every external-service client (Context7, the KCS services):
one frozen dataclass per concern."""

from __future__ import annotations

from dataclasses import dataclass


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

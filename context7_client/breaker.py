"""The Redis-shared circuit breaker now lives in resilience/ (shared with the KCS clients); re-exported here."""

from resilience.breaker import (
    STATE_CLOSED,
    STATE_HALF_OPEN,
    STATE_OPEN,
    BreakerCore,
    BreakerListener,
    BreakerStatus,
    LoggingBreakerListener,
)

__all__ = [
    "STATE_CLOSED",
    "STATE_HALF_OPEN",
    "STATE_OPEN",
    "BreakerCore",
    "BreakerListener",
    "BreakerStatus",
    "LoggingBreakerListener",
]

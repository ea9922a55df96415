"""A Redis command a sans-IO core asks its driver to perform."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class RedisOp:
    """Call `method(*args, **kwargs)` on the Redis client. On a Redis error the
    driver logs it and sends back `fallback`: Redis trouble never fails a lookup."""

    method: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    fallback: Any = None

"""Context7 documentation API client (stand-alone: no Django).

    from context7_client import Context7Client, Context7Config

    client = Context7Client(Context7Config(api_key="ctx7sk-...", redis_url="redis://127.0.0.1:6379/0"))
    search = client.resolve_library_id("Next.js", "middleware auth")
    docs = client.get_library_docs(search.library_id, "middleware auth")
    for snippet in docs.snippets: ...

`AsyncContext7Client` has the same methods as coroutines. Both drive one
sans-IO core (core.py), so retries, the time budget, the Redis-shared
circuit breaker, the Redis cache and the error mapping behave identically.
"""

from .breaker import (
    STATE_CLOSED,
    STATE_HALF_OPEN,
    STATE_OPEN,
    BreakerListener,
    BreakerStatus,
    LoggingBreakerListener,
)
from .client import AsyncContext7Client, Context7Client
from .config import DEFAULT_BASE_URL, BreakerConfig, CacheConfig, Context7Config, RetryConfig
from .errors import (
    API_FAILURE,
    CIRCUIT_OPEN,
    ERROR_CODES,
    LIBRARY_NOT_FOUND,
    RATE_LIMITED,
    TIMEOUT,
    UNAUTHORIZED,
    Context7ApiError,
    Context7CircuitOpenError,
    Context7Error,
    Context7LibraryNotFoundError,
    Context7RateLimitedError,
    Context7TimeoutError,
    Context7UnauthorizedError,
)
from .models import (
    GET_LIBRARY_DOCS,
    RESOLVE_LIBRARY_ID,
    CallRecord,
    CodeBlock,
    Documentation,
    Library,
    LibrarySearch,
    Snippet,
    utc_timestamp,
)
from .parsing import parse_json_context, parse_text

__all__ = [
    "API_FAILURE",
    "CIRCUIT_OPEN",
    "DEFAULT_BASE_URL",
    "ERROR_CODES",
    "GET_LIBRARY_DOCS",
    "LIBRARY_NOT_FOUND",
    "RATE_LIMITED",
    "RESOLVE_LIBRARY_ID",
    "STATE_CLOSED",
    "STATE_HALF_OPEN",
    "STATE_OPEN",
    "TIMEOUT",
    "UNAUTHORIZED",
    "AsyncContext7Client",
    "BreakerConfig",
    "BreakerListener",
    "BreakerStatus",
    "CacheConfig",
    "CallRecord",
    "CodeBlock",
    "Context7ApiError",
    "Context7CircuitOpenError",
    "Context7Client",
    "Context7Config",
    "Context7Error",
    "Context7LibraryNotFoundError",
    "Context7RateLimitedError",
    "Context7TimeoutError",
    "Context7UnauthorizedError",
    "Documentation",
    "Library",
    "LibrarySearch",
    "LoggingBreakerListener",
    "RetryConfig",
    "Snippet",
    "parse_json_context",
    "parse_text",
    "utc_timestamp",
]

"""The sans-IO core: builds requests, interprets responses, decides retries,
and runs the lookup flow (cache -> breaker -> HTTP exchange -> breaker -> cache)
as a generator of effects (see effects.py) that the sync and async drivers perform.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
import unicodedata
from collections.abc import Generator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from resilience.retry import retry_context, retry_decision

from .breaker import BreakerCore, BreakerListener, BreakerStatus, LoggingBreakerListener
from .config import Context7Config
from .effects import Exchange, RedisOp
from .errors import (
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
    Documentation,
    Library,
    LibrarySearch,
    utc_timestamp,
)
from .parsing import count_relevant, estimate_tokens, parse_json_context, parse_text

logger = logging.getLogger("context7_client")

SEARCH_PATH = "/v2/libs/search"
CONTEXT_PATH = "/v2/context"
MAX_PARAM_CHARS = 500
LIBRARY_ID_PATTERN = re.compile(r"^/[^/\s]+/[^/\s]+([/@][^/\s]+)?$")
# 404 bodies that mean "the library exists but nothing matched": an empty result, not an error.
EMPTY_404_CODES = frozenset({"no_relevant_snippets", "no_snippets_found", "no_libraries_found"})
MISSING_LIBRARY_CODES = frozenset({"library_not_found", "tag_not_found"})
CACHE_FORMAT = 1

_INCR_SCRIPT = "for i = 1, #ARGV, 2 do redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1]) end return 1"


def normalise_text(value: str) -> str:
    """NFKC, trimmed, inner whitespace collapsed, case-folded: the cache-key form of a name or query."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", value)).strip().casefold()


def _clip(value: str) -> str:
    value = re.sub(r"\s+", " ", value).strip()
    return value[:MAX_PARAM_CHARS]


@dataclass(frozen=True, slots=True)
class LookupSpec:
    """One logical lookup (one API function with its arguments)."""

    function: str  # RESOLVE_LIBRARY_ID | GET_LIBRARY_DOCS
    path: str
    params: tuple[tuple[str, str], ...]
    record_input: Mapping[str, Any]
    cache_identity: tuple[str, ...]
    budget_s: float
    use_cache: bool
    library_name: str = ""
    library_id: str = ""
    query: str = ""
    response_type: str = "txt"


@dataclass(frozen=True, slots=True)
class Interpreted:
    value: LibrarySearch | Documentation
    summary: dict[str, Any]
    cache_kind: str | None  # "full", "empty" (no library / no snippet) or None: do not cache


class Context7Core:
    """Everything but I/O. One instance per client; thread-safe."""

    def __init__(self, config: Context7Config, listeners: tuple[BreakerListener, ...] | None = None) -> None:
        self.config = config
        self.breaker = BreakerCore(config, listeners if listeners is not None else (LoggingBreakerListener(),))
        self.stats_key = f"{config.redis_prefix}:stats"
        self._redis_warned_at = 0.0
        headers = {
            "User-Agent": f"{config.client_ide}/{config.client_version}",
            "X-Context7-Source": config.source,
            "X-Context7-Server-Version": config.client_version,
            "X-Context7-Client-IDE": config.client_ide,
            "X-Context7-Client-Version": config.client_version,
            "X-Context7-Transport": config.transport,
        }
        if config.api_key:
            headers["Authorization"] = f"Bearer {config.api_key}"
        self.headers = headers

    @property
    def uses_redis(self) -> bool:
        return self.config.redis_url is not None

    # --- specs ---------------------------------------------------------------
    def _budget(self, budget_s: float | None) -> float:
        return self.config.budget_s if budget_s is None else max(0.0, min(self.config.budget_s, budget_s))

    def search_spec(
        self, library_name: str, query: str | None = None, *, budget_s: float | None = None, use_cache: bool = True
    ) -> LookupSpec:
        name = _clip(library_name or "")
        if not name:
            raise ValueError("library_name must not be empty")
        params = [("libraryName", name)]
        clipped_query = _clip(query or "")
        if clipped_query:
            params.append(("query", clipped_query))
        return LookupSpec(
            function=RESOLVE_LIBRARY_ID,
            path=SEARCH_PATH,
            params=tuple(params),
            record_input={"libraryName": name},
            cache_identity=(normalise_text(name), normalise_text(clipped_query)),
            budget_s=self._budget(budget_s),
            use_cache=use_cache,
            library_name=name,
            query=clipped_query,
            response_type="json",
        )

    def docs_spec(
        self,
        library_id: str,
        query: str,
        *,
        response_type: str = "txt",
        budget_s: float | None = None,
        use_cache: bool = True,
    ) -> LookupSpec:
        library_id = (library_id or "").strip()
        if not LIBRARY_ID_PATTERN.match(library_id):
            raise Context7LibraryNotFoundError(
                f"{library_id!r} is not a Context7 library ID (expected /owner/project[/version])",
                endpoint=GET_LIBRARY_DOCS,
            )
        if response_type not in ("txt", "json"):
            raise ValueError("response_type must be 'txt' or 'json'")
        clipped_query = _clip(query or "")
        if not clipped_query:
            raise ValueError("query must not be empty")
        params = [("libraryId", library_id), ("query", clipped_query)]
        if response_type == "json":
            params.append(("type", "json"))
        return LookupSpec(
            function=GET_LIBRARY_DOCS,
            path=CONTEXT_PATH,
            params=tuple(params),
            # Seed 002 names; /v2/context has no token limit, so "tokens" is null.
            record_input={"context7CompatibleLibraryID": library_id, "topic": clipped_query, "tokens": None},
            cache_identity=(library_id.casefold(), normalise_text(clipped_query), response_type),
            budget_s=self._budget(budget_s),
            use_cache=use_cache,
            library_id=library_id,
            query=clipped_query,
            response_type=response_type,
        )

    def cache_key(self, spec: LookupSpec) -> str:
        identity = json.dumps([CACHE_FORMAT, self.config.base_url, spec.function, *spec.cache_identity])
        digest = hashlib.sha256(identity.encode()).hexdigest()
        return f"{self.config.redis_prefix}:cache:{spec.function}:{digest}"

    # --- the flow ------------------------------------------------------------
    def lookup(self, spec: LookupSpec) -> Generator[RedisOp | Exchange, Any, LibrarySearch | Documentation]:
        deadline = time.monotonic() + spec.budget_s
        cache_on = self.config.cache.enabled and self.uses_redis
        key = self.cache_key(spec)
        if cache_on and spec.use_cache:
            stored = yield RedisOp("get", (key,))
            value = self._from_cache(spec, stored) if stored is not None else None
            if value is not None:
                yield self._count(cache_hits=1)
                logger.debug("context7 cache hit %s %s", spec.function, key)
                return value
            yield self._count(cache_misses=1)

        if self.breaker.enabled:
            status = self.breaker.interpret((yield self.breaker.command("allow")))
            if not status.allowed:
                yield self._count(**{"errors:CONTEXT7_CIRCUIT_OPEN": 1})
                error = Context7CircuitOpenError(
                    f"circuit breaker {self.config.breaker.name!r} is {status.state}; "
                    f"next probe in {status.retry_after_s:.1f} s",
                    retry_after=status.retry_after_s,
                    endpoint=spec.function,
                )
                logger.info("context7 %s refused: %s", spec.function, error)
                raise error

        run = AttemptRun(self, spec, deadline)
        try:
            interpreted: Interpreted = yield Exchange(run)
        except Context7Error as error:
            error.calls = tuple(run.records)
            error.endpoint = error.endpoint or spec.function
            if self.breaker.enabled and run.records:  # no verdict on a service that was never contacted
                outcome = "failure" if counts_as_breaker_failure(error) else "success"
                self.breaker.interpret((yield self.breaker.command(outcome)))
            yield self._count(http_calls=len(run.records), **{f"errors:{error.code}": 1})
            raise

        if self.breaker.enabled:
            self.breaker.interpret((yield self.breaker.command("success")))
        yield self._count(http_calls=len(run.records))
        ttl = {"full": self.config.cache.ttl_s, "empty": self.config.cache.empty_ttl_s}.get(
            interpreted.cache_kind or ""
        )
        if cache_on and ttl:
            payload = json.dumps(
                {
                    "v": CACHE_FORMAT,
                    "status": run.status,
                    "content_type": run.content_type,
                    "body": run.body.decode("utf-8", errors="replace"),
                    "stored_at": utc_timestamp(),
                }
            )
            yield RedisOp("set", (key, payload), {"ex": ttl})
        return replace(interpreted.value, calls=tuple(run.records))

    def breaker_status(self) -> Generator[RedisOp, Any, BreakerStatus]:
        if not self.breaker.enabled:
            return BreakerStatus(state="disabled", failures=0, retry_after_s=0.0, shared=False)
        return self.breaker.interpret((yield self.breaker.command("status")))

    def breaker_reset(self) -> Generator[RedisOp, Any, None]:
        if self.breaker.enabled:
            yield RedisOp("delete", (self.breaker.key,))
            logger.warning("context7 circuit breaker %r reset by operator", self.config.breaker.name)

    def stats(self) -> Generator[RedisOp, Any, dict[str, int]]:
        if not self.uses_redis:
            return {}
        raw = yield RedisOp("hgetall", (self.stats_key,), fallback={})
        return {_text(k): int(v) for k, v in (raw or {}).items()}

    def _count(self, **fields: int) -> RedisOp:
        args: list[Any] = [_INCR_SCRIPT, 1, self.stats_key]
        for name, amount in fields.items():
            args += [name, amount]
        return RedisOp("eval", tuple(args))

    def _from_cache(self, spec: LookupSpec, stored: bytes | str) -> LibrarySearch | Documentation | None:
        try:
            payload = json.loads(stored)
            if payload.get("v") != CACHE_FORMAT:
                return None
            headers = {"content-type": payload.get("content_type") or ""}
            interpreted = interpret(spec, int(payload["status"]), headers, payload["body"].encode("utf-8"))
        except (ValueError, KeyError, TypeError, AttributeError, Context7Error):
            logger.warning("context7 cache entry for %s is unreadable; ignoring it", spec.function)
            return None
        return replace(interpreted.value, cache_hit=True, calls=())

    def require_library(self, search: LibrarySearch) -> LibrarySearch:
        """`search` if it found a library; else Context7LibraryNotFoundError carrying its calls."""
        if search.best is None:
            error = Context7LibraryNotFoundError(
                f"no Context7 library matches {search.library_name!r}", endpoint=RESOLVE_LIBRARY_ID
            )
            error.calls = search.calls
            raise error
        return search

    def redis_failed(self, op: RedisOp, exc: Exception) -> None:
        """Log a Redis failure at most once every 30 s (the lookup carries on without Redis)."""
        now = time.monotonic()
        if now - self._redis_warned_at >= 30:
            self._redis_warned_at = now
            logger.warning(
                "context7 Redis %s failed (%s: %s); continuing without it", op.method, type(exc).__name__, exc
            )


def counts_as_breaker_failure(error: Context7Error) -> bool:
    """Timeouts, network errors, 5xx, 429 and malformed bodies say the service is unhealthy;
    401/403/404 and other 4xx say it answered."""
    if isinstance(error, Context7TimeoutError | Context7RateLimitedError):
        return True
    if isinstance(error, Context7ApiError):
        return error.http_status is None or error.http_status >= 500 or 200 <= error.http_status < 300
    return False


class AttemptRun:
    """State of one lookup's HTTP exchange across its attempts. Used by a driver as:

    for attempt in run.retry_context():          # or `async for`
        with attempt:
            request = run.start(attempt.num, attempt.next_wait)
            ... send; run.response_started(status, headers); run.feed(chunk) ...
            (on httpx.HTTPError: raise run.transport_error(exc))
            return run.finish()
    """

    def __init__(self, core: Context7Core, spec: LookupSpec, deadline: float) -> None:
        self.core = core
        self.config = core.config
        self.spec = spec
        self.deadline = deadline
        self.records: list[CallRecord] = []
        self.status: int | None = None
        self.content_type = ""
        self.body = b""
        self._headers: Mapping[str, str] = {}
        self._chunks: list[bytes] = []
        self._size = 0
        self._attempt = 0
        self._next_wait_upper = 0.0
        self._started_at: float | None = None
        self._started_wall = ""

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def retry_context(self):  # stamina's iterator (sync and async)
        return retry_context(self.config.retry, self.spec.budget_s, self.should_retry)

    def should_retry(self, exc: Exception) -> bool | float:
        """stamina backoff hook: False (give up), True (exponential backoff) or seconds to wait."""
        if not isinstance(exc, Context7Error):
            return False
        return retry_decision(
            retry=self.config.retry,
            label=f"context7 {self.spec.function}",
            code=exc.code,
            retryable=exc.retryable,
            retry_after=exc.retry_after,
            attempt=self._attempt,
            remaining_s=self.remaining(),
            next_wait_upper_s=self._next_wait_upper,
        )

    def start(self, attempt_num: int, next_wait_lower: float) -> httpx.Request:
        self._attempt = attempt_num
        self._next_wait_upper = next_wait_lower + self.config.retry.wait_jitter_s
        self.status, self._headers, self._chunks, self._size = None, {}, [], 0
        self._started_at = None
        remaining = self.remaining()
        if remaining < self.config.retry.min_attempt_s:
            raise Context7TimeoutError(
                f"lookup budget of {self.spec.budget_s:.2f} s used up before attempt {attempt_num}",
                endpoint=self.spec.function,
            )
        connect = min(self.config.connect_timeout_s, remaining)
        read = min(self.config.read_timeout_s, remaining)
        timeout = httpx.Timeout(connect=connect, read=read, write=read, pool=connect)
        self._started_at = time.monotonic()
        self._started_wall = utc_timestamp()
        return httpx.Request(
            "GET",
            self.config.base_url + self.spec.path,
            params=list(self.spec.params),
            headers=self.core.headers,
            extensions={"timeout": timeout.as_dict()},
        )

    def response_started(self, status: int, headers: Mapping[str, str]) -> None:
        self.status = status
        self._headers = headers
        self.content_type = headers.get("content-type", "")

    def feed(self, chunk: bytes) -> None:
        self._chunks.append(chunk)
        self._size += len(chunk)
        if self._size > self.config.max_body_bytes:
            raise self._failed(
                Context7ApiError(
                    f"response body exceeds {self.config.max_body_bytes} bytes",
                    retryable=False,
                    http_status=self.status,
                )
            )
        if time.monotonic() > self.deadline:
            raise self._failed(
                Context7TimeoutError(
                    f"lookup budget of {self.spec.budget_s:.2f} s ran out while reading the response",
                    http_status=self.status,
                )
            )

    def transport_error(self, exc: Exception) -> Context7Error:
        if isinstance(exc, httpx.TimeoutException):
            error: Context7Error = Context7TimeoutError(f"{type(exc).__name__}: {exc or 'timed out'}")
        else:
            error = Context7ApiError(f"network error: {type(exc).__name__}: {exc}", http_status=self.status)
        return self._failed(error)

    def finish(self) -> Interpreted:
        self.body = b"".join(self._chunks)
        assert self.status is not None, "response_started() was not called"
        try:
            interpreted = interpret(self.spec, self.status, self._headers, self.body)
        except Context7Error as error:
            raise self._failed(error) from None
        self._record(success=True, output=interpreted.summary)
        return interpreted

    def _failed(self, error: Context7Error) -> Context7Error:
        error.endpoint = error.endpoint or self.spec.function
        elapsed_ms = self._elapsed_ms()
        if self._started_at is not None:  # an HTTP call was made
            output: dict[str, Any] = {
                "error": error.code,
                "http_status": error.http_status,
                "message": error.message[:200],
            }
            if error.retry_after is not None:
                output["retry_after"] = error.retry_after
            self._record(success=False, output=output)
        logger.warning(
            "context7 %s attempt %d failed: %s (%.0f ms)",
            self.spec.function,
            self._attempt,
            error,
            elapsed_ms,
        )
        return error

    def _elapsed_ms(self) -> int:
        return 0 if self._started_at is None else round((time.monotonic() - self._started_at) * 1000)

    def _record(self, *, success: bool, output: dict[str, Any]) -> None:
        self.records.append(
            CallRecord(
                function=self.spec.function,
                input=dict(self.spec.record_input),
                output=output,
                duration_ms=self._elapsed_ms(),
                success=success,
                timestamp=self._started_wall,
            )
        )
        self._started_at = None


# --- response interpretation (pure) ------------------------------------------
def interpret(spec: LookupSpec, status: int, headers: Mapping[str, str], body: bytes) -> Interpreted:
    """The result of a response, or the Context7Error it means."""
    if 200 <= status < 300:
        if status == 202:  # library_not_finalized: try again later, nothing to show now
            return _empty(spec, cache_kind=None)
        if spec.function == RESOLVE_LIBRARY_ID:
            return _interpret_search(spec, status, body)
        return _interpret_docs(spec, status, headers, body)
    error = http_error(spec, status, headers, body)
    if error is None:
        return _empty(spec, cache_kind="empty")
    raise error


def _empty(spec: LookupSpec, *, cache_kind: str | None) -> Interpreted:
    if spec.function == RESOLVE_LIBRARY_ID:
        value: LibrarySearch | Documentation = LibrarySearch(library_name=spec.library_name, query=spec.query or None)
        summary: dict[str, Any] = {"library_id": None, "results": 0}
    else:
        value = Documentation(library_id=spec.library_id, query=spec.query)
        summary = {"docs_retrieved": 0, "total_tokens": 0, "relevant_snippets": 0}
    return Interpreted(value=value, summary=summary, cache_kind=cache_kind)


def _malformed(spec: LookupSpec, status: int, why: str) -> Context7ApiError:
    return Context7ApiError(f"malformed response: {why}", retryable=False, http_status=status, endpoint=spec.function)


def _interpret_search(spec: LookupSpec, status: int, body: bytes) -> Interpreted:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _malformed(spec, status, f"search body is not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise _malformed(spec, status, "search body is not a JSON object")
    items = data.get("results")
    libraries = (
        tuple(lib for lib in (Library.from_json(item) for item in items) if lib) if isinstance(items, list) else ()
    )
    search = LibrarySearch(
        library_name=spec.library_name,
        query=spec.query or None,
        results=libraries,
        search_filter_applied=data.get("searchFilterApplied") is True,
    )
    summary = {"library_id": search.library_id, "results": len(libraries)}
    return Interpreted(value=search, summary=summary, cache_kind="full" if libraries else "empty")


def _interpret_docs(spec: LookupSpec, status: int, headers: Mapping[str, str], body: bytes) -> Interpreted:
    content_type = headers.get("content-type", "")
    if spec.response_type == "json" or "json" in content_type:
        # Asked for JSON, or told it is JSON: it must be a well-formed context object.
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise _malformed(spec, status, f"context body is not JSON ({exc})") from None
        parsed = parse_json_context(data)
        if parsed is None:
            raise _malformed(spec, status, "context JSON has neither codeSnippets nor infoSnippets")
        snippets, tokens, rules = parsed
        docs = Documentation(
            library_id=spec.library_id,
            query=spec.query,
            snippets=tuple(snippets),
            format="json",
            total_tokens=tokens or estimate_tokens(body.decode("utf-8", errors="replace")),
            tokens_estimated=not tokens,
            relevant_snippets=count_relevant(snippets, spec.query),
            rules=rules,
            raw=body.decode("utf-8", errors="replace"),
        )
        return _docs_result(docs)
    text = body.decode("utf-8", errors="replace")
    fmt, snippets = parse_text(text)
    docs = Documentation(
        library_id=spec.library_id,
        query=spec.query,
        snippets=tuple(snippets),
        format=fmt,
        total_tokens=estimate_tokens(text) if snippets else 0,
        tokens_estimated=True,
        relevant_snippets=count_relevant(snippets, spec.query),
        raw=text,
    )
    return _docs_result(docs)


def _docs_result(docs: Documentation) -> Interpreted:
    summary = {
        "docs_retrieved": len(docs.snippets),
        "total_tokens": docs.total_tokens,
        "relevant_snippets": docs.relevant_snippets,
    }
    return Interpreted(value=docs, summary=summary, cache_kind="full" if docs.snippets else "empty")


def _error_body(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def retry_after_seconds(headers: Mapping[str, str], body: Mapping[str, Any], now: float | None = None) -> float | None:
    """Seconds to wait from Retry-After (seconds or HTTP date), else RateLimit-Reset, else the body."""
    now = time.time() if now is None else now
    value = (headers.get("retry-after") or "").strip()
    if value:
        if re.fullmatch(r"\d+(\.\d+)?", value):
            return float(value)
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            moment = None
        if moment is not None:
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            return max(0.0, moment.timestamp() - now)
    reset = (headers.get("ratelimit-reset") or "").strip()
    if re.fullmatch(r"\d+", reset):
        seconds = int(reset)
        # RateLimit-Reset is a Unix timestamp per Context7's docs; small values are deltas.
        return float(max(0, seconds - now)) if seconds > 10**9 else float(seconds)
    for key in ("retryAfterSeconds", "retryAfter", "retry_after"):
        candidate = body.get(key)
        if isinstance(candidate, int | float) and not isinstance(candidate, bool) and candidate >= 0:
            return float(candidate)
    return None


def http_error(spec: LookupSpec, status: int, headers: Mapping[str, str], body: bytes) -> Context7Error | None:
    """The error a non-2xx response means; None for the 404s that mean "nothing matched"."""
    data = _error_body(body)
    code = data.get("error") if isinstance(data.get("error"), str) else None
    message = data.get("message") if isinstance(data.get("message"), str) else None
    text = message or code or f"HTTP {status}"
    common: dict[str, Any] = {"http_status": status, "api_error": code, "endpoint": spec.function}
    if status == 404:
        if code in EMPTY_404_CODES:
            return None
        if code in MISSING_LIBRARY_CODES:
            return Context7LibraryNotFoundError(text, **common)
        return Context7ApiError(
            f"unexpected 404 ({text}); is CONTEXT7_API_URL right (it must end with /api)?", retryable=False, **common
        )
    if status in (401, 403):
        return Context7UnauthorizedError(text, **common)
    if status == 429:
        return Context7RateLimitedError(text, retry_after=retry_after_seconds(headers, data), **common)
    if status == 402:
        return Context7RateLimitedError(text, retryable=False, **common)
    if status == 408:
        return Context7TimeoutError(text, **common)
    if 300 <= status < 400:
        redirect = data.get("redirectUrl") if isinstance(data.get("redirectUrl"), str) else None
        if redirect or code == "library_redirected":
            return Context7LibraryNotFoundError(text, redirect_url=redirect, **common)
        return Context7ApiError(f"unexpected redirect ({text})", retryable=False, **common)
    if status >= 500:
        return Context7ApiError(text, retry_after=retry_after_seconds(headers, data), **common)
    return Context7ApiError(text, retryable=False, **common)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)

"""Thin sync and async drivers over the sans-IO core.

Each driver only performs the effects the core yields: a Redis command, or an
HTTP exchange retried by stamina as the core's AttemptRun decides. Every
decision (request, timeouts, budget, retry, error mapping, breaker, cache)
lives in core.py / breaker.py, so both interfaces behave identically.

The async client keeps one httpx.AsyncClient and one redis.asyncio client per
event loop, so it is safe under async_to_sync (a new loop per call) and under
pytest-asyncio's per-test loops.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import redis
import redis.asyncio
from redis.exceptions import RedisError

from .breaker import BreakerListener, BreakerStatus
from .config import Context7Config
from .core import AttemptRun, Context7Core, Interpreted
from .effects import Exchange, RedisOp
from .errors import Context7Error
from .models import Documentation, LibrarySearch

T = TypeVar("T")
Flow = Generator[RedisOp | Exchange, Any, T]

_HTTP_LIMITS = httpx.Limits(max_connections=20, max_keepalive_connections=10, keepalive_expiry=30)


def _redis_kwargs(config: Context7Config) -> dict[str, Any]:
    return {
        "socket_timeout": config.redis_timeout_s,
        "socket_connect_timeout": config.redis_timeout_s,
        "health_check_interval": 30,
    }


class _Base:
    def __init__(self, config: Context7Config | None, listeners: tuple[BreakerListener, ...] | None) -> None:
        self.config = config or Context7Config()
        self.core = Context7Core(self.config, listeners)

    def _next(self, flow: Flow[T], send: Any, throw: BaseException | None) -> tuple[bool, Any]:
        """Advance `flow`: (True, effect) or (False, return value)."""
        try:
            effect = flow.throw(throw) if throw is not None else flow.send(send)
        except StopIteration as stop:
            return False, stop.value
        return True, effect


class Context7Client(_Base):
    """Blocking client. Thread-safe; share one per process."""

    def __init__(
        self,
        config: Context7Config | None = None,
        *,
        listeners: tuple[BreakerListener, ...] | None = None,
        http_client: httpx.Client | None = None,
        redis_client: redis.Redis | None = None,
    ) -> None:
        super().__init__(config, listeners)
        self._http = http_client or httpx.Client(limits=_HTTP_LIMITS, follow_redirects=False)
        self._owns_http = http_client is None
        if redis_client is None and self.config.redis_url:
            redis_client = redis.Redis.from_url(self.config.redis_url, **_redis_kwargs(self.config))
        self._redis = redis_client

    # --- public API ---------------------------------------------------------
    def search_libraries(
        self, library_name: str, query: str | None = None, *, budget_s: float | None = None, use_cache: bool = True
    ) -> LibrarySearch:
        """GET /v2/libs/search. Empty `results` when nothing matched."""
        return self._drive(
            self.core.lookup(self.core.search_spec(library_name, query, budget_s=budget_s, use_cache=use_cache))
        )

    def resolve_library_id(
        self, library_name: str, query: str | None = None, *, budget_s: float | None = None, use_cache: bool = True
    ) -> LibrarySearch:
        """Like search_libraries, but raises Context7LibraryNotFoundError when nothing matched.
        The chosen library is `.best` / `.library_id`."""
        return self.core.require_library(
            self.search_libraries(library_name, query, budget_s=budget_s, use_cache=use_cache)
        )

    def get_library_docs(
        self,
        library_id: str,
        query: str,
        *,
        response_type: str = "txt",
        budget_s: float | None = None,
        use_cache: bool = True,
    ) -> Documentation:
        """GET /v2/context. An empty Documentation when the library has nothing relevant."""
        spec = self.core.docs_spec(
            library_id, query, response_type=response_type, budget_s=budget_s, use_cache=use_cache
        )
        return self._drive(self.core.lookup(spec))

    def breaker_status(self) -> BreakerStatus:
        return self._drive(self.core.breaker_status())

    def reset_breaker(self) -> None:
        self._drive(self.core.breaker_reset())

    def stats(self) -> dict[str, int]:
        """Counters kept in Redis under `{prefix}:stats` (cache_hits, cache_misses, http_calls, errors:<CODE>)."""
        return self._drive(self.core.stats())

    def close(self) -> None:
        if self._owns_http:
            self._http.close()
        if self._redis is not None:
            self._redis.close()

    def __enter__(self) -> Context7Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- effects ------------------------------------------------------------
    def _drive(self, flow: Flow[T]) -> T:
        send: Any = None
        throw: BaseException | None = None
        while True:
            running, effect = self._next(flow, send, throw)
            if not running:
                return effect
            send, throw = None, None
            if isinstance(effect, Exchange):
                try:
                    send = self._exchange(effect.run)
                except Context7Error as error:
                    throw = error
            else:
                send = self._redis_op(effect)

    def _redis_op(self, op: RedisOp) -> Any:
        if self._redis is None:
            return op.fallback
        try:
            return getattr(self._redis, op.method)(*op.args, **op.kwargs)
        except RedisError as exc:
            self.core.redis_failed(op, exc)
            return op.fallback

    def _exchange(self, run: AttemptRun) -> Interpreted:
        for attempt in run.retry_context():
            with attempt:
                request = run.start(attempt.num, attempt.next_wait)
                try:
                    response = self._http.send(request, stream=True)
                    try:
                        run.response_started(response.status_code, response.headers)
                        for chunk in response.iter_bytes():
                            run.feed(chunk)
                    finally:
                        response.close()
                except httpx.HTTPError as exc:
                    raise run.transport_error(exc) from exc
                return run.finish()
        raise AssertionError("unreachable")  # stamina re-raises the last error


@dataclass
class _LoopResources:
    http: httpx.AsyncClient
    redis: redis.asyncio.Redis | None


class AsyncContext7Client(_Base):
    """asyncio client with the same behaviour as Context7Client."""

    def __init__(
        self,
        config: Context7Config | None = None,
        *,
        listeners: tuple[BreakerListener, ...] | None = None,
        http_client: httpx.AsyncClient | None = None,
        redis_client: redis.asyncio.Redis | None = None,
    ) -> None:
        super().__init__(config, listeners)
        self._given_http = http_client
        self._given_redis = redis_client
        self._per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopResources] = (
            weakref.WeakKeyDictionary()
        )

    def _resources(self) -> _LoopResources:
        loop = asyncio.get_running_loop()
        resources = self._per_loop.get(loop)
        if resources is None:
            redis_client = self._given_redis
            if redis_client is None and self.config.redis_url:
                redis_client = redis.asyncio.Redis.from_url(self.config.redis_url, **_redis_kwargs(self.config))
            resources = _LoopResources(
                http=self._given_http or httpx.AsyncClient(limits=_HTTP_LIMITS, follow_redirects=False),
                redis=redis_client,
            )
            self._per_loop[loop] = resources
        return resources

    # --- public API ---------------------------------------------------------
    async def search_libraries(
        self, library_name: str, query: str | None = None, *, budget_s: float | None = None, use_cache: bool = True
    ) -> LibrarySearch:
        return await self._drive(
            self.core.lookup(self.core.search_spec(library_name, query, budget_s=budget_s, use_cache=use_cache))
        )

    async def resolve_library_id(
        self, library_name: str, query: str | None = None, *, budget_s: float | None = None, use_cache: bool = True
    ) -> LibrarySearch:
        search = await self.search_libraries(library_name, query, budget_s=budget_s, use_cache=use_cache)
        return self.core.require_library(search)

    async def get_library_docs(
        self,
        library_id: str,
        query: str,
        *,
        response_type: str = "txt",
        budget_s: float | None = None,
        use_cache: bool = True,
    ) -> Documentation:
        spec = self.core.docs_spec(
            library_id, query, response_type=response_type, budget_s=budget_s, use_cache=use_cache
        )
        return await self._drive(self.core.lookup(spec))

    async def breaker_status(self) -> BreakerStatus:
        return await self._drive(self.core.breaker_status())

    async def reset_breaker(self) -> None:
        await self._drive(self.core.breaker_reset())

    async def stats(self) -> dict[str, int]:
        return await self._drive(self.core.stats())

    async def aclose(self) -> None:
        """Close the connections of the running event loop."""
        resources = self._per_loop.pop(asyncio.get_running_loop(), None)
        if resources is None:
            return
        if self._given_http is None:
            await resources.http.aclose()
        if resources.redis is not None and self._given_redis is None:
            await resources.redis.aclose()

    async def __aenter__(self) -> AsyncContext7Client:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # --- effects ------------------------------------------------------------
    async def _drive(self, flow: Flow[T]) -> T:
        send: Any = None
        throw: BaseException | None = None
        while True:
            running, effect = self._next(flow, send, throw)
            if not running:
                return effect
            send, throw = None, None
            if isinstance(effect, Exchange):
                try:
                    send = await self._exchange(effect.run)
                except Context7Error as error:
                    throw = error
            else:
                send = await self._redis_op(effect)

    async def _redis_op(self, op: RedisOp) -> Any:
        client = self._resources().redis
        if client is None:
            return op.fallback
        try:
            return await getattr(client, op.method)(*op.args, **op.kwargs)
        except RedisError as exc:
            self.core.redis_failed(op, exc)
            return op.fallback

    async def _exchange(self, run: AttemptRun) -> Interpreted:
        http = self._resources().http
        async for attempt in run.retry_context():
            with attempt:
                request = run.start(attempt.num, attempt.next_wait)
                try:
                    response = await http.send(request, stream=True)
                    try:
                        run.response_started(response.status_code, response.headers)
                        async for chunk in response.aiter_bytes():
                            run.feed(chunk)
                    finally:
                        await response.aclose()
                except httpx.HTTPError as exc:
                    raise run.transport_error(exc) from exc
                return run.finish()
        raise AssertionError("unreachable")  # stamina re-raises the last error

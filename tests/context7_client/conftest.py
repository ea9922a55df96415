"""Fixtures for the context7_client tests: a real fake server, real Redis, sync and async clients."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from context7_client import (
    AsyncContext7Client,
    BreakerConfig,
    CacheConfig,
    Context7Client,
    Context7Config,
    RetryConfig,
)
from tests.fakes.fixtures import context7_server, redis_prefix, redis_url  # noqa: F401

HS_LIBRARY = "/wco/hs-nomenclature-2022"

# Short backoff so that retry tests are quick; the behaviour is the same as with the defaults.
FAST_RETRY = RetryConfig(attempts=3, wait_initial_s=0.01, wait_max_s=0.05, wait_jitter_s=0.01)


@pytest.fixture
def make_config(context7_server, redis_url, redis_prefix) -> Callable[..., Context7Config]:  # noqa: F811
    """Context7Config pointing at the fake server and a per-test Redis prefix; keyword overrides."""

    def make(**overrides: Any) -> Context7Config:
        base = Context7Config(
            base_url=context7_server.url,
            redis_url=redis_url,
            redis_prefix=redis_prefix,
            # Generous on purpose: a loaded CI machine can stall a healthy reply for a second. Tests about
            # timeouts and budgets set their own tight values.
            budget_s=5.0,
            connect_timeout_s=2.0,
            read_timeout_s=4.0,
            retry=FAST_RETRY,
            breaker=BreakerConfig(fail_max=5, reset_timeout_s=30.0),
            cache=CacheConfig(enabled=False),
        )
        return dataclasses.replace(base, **overrides)

    return make


class Api:
    """One interface over both clients, so every behaviour test runs against sync and async."""

    def __init__(self, mode: str, config: Context7Config) -> None:
        self.mode = mode
        self.config = config
        self.client: Context7Client | AsyncContext7Client = (
            Context7Client(config) if mode == "sync" else AsyncContext7Client(config)
        )

    async def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        result = getattr(self.client, name)(*args, **kwargs)
        return await result if self.mode == "async" else result

    async def docs(self, library_id: str = HS_LIBRARY, query: str = "smartphone", **kwargs: Any):
        return await self._call("get_library_docs", library_id, query, **kwargs)

    async def search(self, library_name: str, query: str | None = None, **kwargs: Any):
        return await self._call("search_libraries", library_name, query, **kwargs)

    async def resolve(self, library_name: str, query: str | None = None, **kwargs: Any):
        return await self._call("resolve_library_id", library_name, query, **kwargs)

    async def breaker_status(self):
        return await self._call("breaker_status")

    async def stats(self) -> dict[str, int]:
        return await self._call("stats")

    async def close(self) -> None:
        if self.mode == "async":
            await self.client.aclose()
        else:
            self.client.close()


@pytest.fixture(params=["sync", "async"])
def mode(request) -> str:
    return request.param


@pytest.fixture
async def make_api(mode, make_config) -> AsyncIterator[Callable[..., Api]]:
    """Factory of Api objects (sync or async, per the test's parameter); all closed afterwards."""
    made: list[Api] = []

    def make(**overrides: Any) -> Api:
        api = Api(mode, make_config(**overrides))
        made.append(api)
        return api

    yield make
    for api in made:
        await api.close()

"""pytest fixtures for the Context7 fakes. Import them into a test module or conftest:

from tests.fakes.fixtures import context7_server, redis_prefix, redis_url  # noqa: F401
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import redis

from .context7_server import FakeContext7Server

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def context7_server() -> Iterator[FakeContext7Server]:
    """A fresh fake Context7 API on 127.0.0.1 (free port) for one test."""
    with FakeContext7Server() as server:
        yield server


@pytest.fixture
def redis_url() -> str:
    return os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix no other test uses; every key under it is deleted afterwards."""
    prefix = f"test:context7:{uuid.uuid4().hex[:12]}"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()

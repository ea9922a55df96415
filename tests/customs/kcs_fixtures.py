"""Fixtures wiring the customs app to a private fake of the KCS services (real HTTP on 127.0.0.1)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis
from django.conf import settings

from tests.conftest import side_stack
from tests.fakes.kcs_server import KEYS, FakeKcsServer

KEY_SETTINGS = {
    "ccct_gw": "KCS_CCCT_KEY",
    "api029": "KCS_API029_KEY",
    "nitemtrade": "KCS_NITEMTRADE_KEY",
    "fx_gw": "KCS_FX_KEY",
    "api030": "KCS_API030_KEY",
}


def cached_answers(prefix: str) -> list[bytes]:
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        return list(client.scan_iter(match=f"{prefix}:cache:*"))
    finally:
        client.close()


@pytest.fixture
def kcs_fake(settings) -> Iterator[FakeKcsServer]:
    """A private fake with every service's key configured, a private Redis prefix, short budgets."""
    prefix = f"test:kcs:{uuid.uuid4().hex[:12]}"
    with FakeKcsServer() as server:
        settings.KCS_DATA_GO_KR_URL = server.gateway_url
        settings.KCS_UNIPASS_URL = server.unipass_url
        for service, name in KEY_SETTINGS.items():
            setattr(settings, name, KEYS[service])
        settings.KCS_REDIS_PREFIX = prefix
        settings.KCS_BUDGET_S = 3.0
        settings.KCS_READ_TIMEOUT_S = 1.0
        settings.KCS_RETRY_ATTEMPTS = 1
        server.redis_prefix = prefix
        yield server
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def kcs_no_keys(settings) -> None:
    for name in KEY_SETTINGS.values():
        setattr(settings, name, "")


@pytest.fixture(scope="module")
def kcs_stack(tmp_path_factory):
    """A live stack (daphne + a Celery worker on the test database, Redis db 2) whose KCS settings point at a
    private fake: (stack, fake)."""
    with FakeKcsServer() as fake:
        keys = {name: KEYS[service] for service, name in KEY_SETTINGS.items()}
        with side_stack(tmp_path_factory, "kcs-stack", 2, KCS_DATA_GO_KR_URL=fake.gateway_url,
                        KCS_UNIPASS_URL=fake.unipass_url, KCS_REDIS_PREFIX=f"test:kcs:{uuid.uuid4().hex[:12]}",
                        **keys) as stack:
            yield stack, fake

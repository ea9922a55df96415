"""The production stack (tests/support/production.py) as this folder's live stack: the delivery and security
tests imported here run through nginx against daphne and Celery started exactly as docker-compose.yml starts
them, with DEBUG=0, and each client behaves as a browser behind a TLS-terminating balancer."""

from __future__ import annotations

import secrets

import pytest

from tests.conftest import redis_url_with_db
from tests.support.live import ChatClient, database_url
from tests.support.production import ProductionStack

METRICS_TOKEN = secrets.token_urlsafe(24)

# What an operator puts in the .env next to docker-compose.yml. The limits are generous for the tests imported
# here (every client comes from 127.0.0.1) and finite, so test_forged_x_forwarded_for_does_not_escape_the_limit
# can exhaust them.
OPERATOR_ENV = {
    "SECRET_KEY": secrets.token_urlsafe(48),
    "POSTGRES_PASSWORD": "unused-here-the-test-database-is-used",
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "METRICS_TOKEN": METRICS_TOKEN,
    "CHAT_RATE_LIMIT_SESSION": "100/60",
    "CHAT_RATE_LIMIT_IP": "30/60",
    "CHAT_RATE_LIMIT_CONVERSATION_SESSION": "100/60",
    "CHAT_RATE_LIMIT_CONVERSATION_IP": "60/60",
    "CHAT_RATE_LIMIT_REPLAY_SESSION": "200/60",
    "CHAT_RATE_LIMIT_REPLAY_IP": "2000/60",
    "CHAT_RATE_LIMIT_NEW_SESSION_IP": "1000/60",
}


@pytest.fixture(scope="session")
def production_stack(django_db_setup, django_db_blocker, tmp_path_factory):
    from django.conf import settings
    from django.db import connection

    stack = ProductionStack(tmp_path_factory.mktemp("production"), database_url=database_url(connection.settings_dict),
                            redis_url=redis_url_with_db(settings.REDIS_URL, 10), operator_env=OPERATOR_ENV)
    try:
        yield stack.start()
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def live_stack(production_stack):
    return production_stack


@pytest.fixture
def chat_client(live):
    client = ChatClient(live.base_url, behind_tls=True)
    yield client
    client.close()


@pytest.fixture
def make_chat_client(live):
    clients: list[ChatClient] = []

    def make() -> ChatClient:
        client = ChatClient(live.base_url, behind_tls=True)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()

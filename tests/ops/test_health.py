"""/healthz: per-check status and latency; 200 only when the database, Redis and a Celery worker all answer."""

from __future__ import annotations

import time

import httpx
import pytest
from django.test import Client

from tests.conftest import redis_url_with_db
from tests.support.live import free_port

pytestmark = pytest.mark.django_db

OPERATOR_TOKEN = "healthz-test-token-0123456789"


def _health(client: Client | None = None):
    """The detailed answer, as an operator asks for it (with the token)."""
    response = (client or Client()).get("/healthz?details", HTTP_AUTHORIZATION=f"Bearer {OPERATOR_TOKEN}")
    return response.status_code, response.json()


@pytest.fixture(autouse=True)
def _operator_token(settings):
    settings.METRICS_TOKEN = OPERATOR_TOKEN


@pytest.mark.integration
def test_healthz_is_200_with_every_check_ok_when_daphne_redis_and_a_worker_answer(live):
    response = httpx.get(f"{live.base_url}/healthz", timeout=10)
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "redis", "celery"}
    for name, check in body["checks"].items():
        assert check["status"] == "ok", (name, check)
        assert isinstance(check["latency_ms"], int | float) and check["latency_ms"] >= 0
    assert body["checks"]["celery"]["workers"]  # the worker's node name
    assert response.headers["Cache-Control"].startswith("max-age=0")
    for _ in range(3):  # every check builds and closes its own connections: repeated probes keep working
        again = httpx.get(f"{live.base_url}/healthz", timeout=10)
        assert again.status_code == 200, again.json()


def test_healthz_is_503_when_no_celery_worker_answers(settings, redis_url):
    # The same Redis server, a database no worker listens on: the broker is up, nobody answers the ping.
    settings.CELERY_BROKER_URL = redis_url_with_db(redis_url, 11)
    settings.HEALTHZ_CELERY_TIMEOUT_S = 0.5
    started = time.monotonic()
    status, body = _health()
    assert status == 503 and body["status"] == "fail"
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["redis"]["status"] == "ok"
    celery = body["checks"]["celery"]
    assert celery["status"] == "fail" and "no Celery worker answered" in celery["error"]
    assert celery["latency_ms"] >= 400
    assert time.monotonic() - started < 5


def test_healthz_is_503_and_quick_when_redis_is_down(settings):
    dead = f"redis://127.0.0.1:{free_port()}/0"
    settings.REDIS_URL = dead
    settings.CELERY_BROKER_URL = dead
    settings.HEALTHZ_TIMEOUT_S = 1.5
    started = time.monotonic()
    status, body = _health()
    assert status == 503
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["redis"]["status"] == "fail" and "Connection" in body["checks"]["redis"]["error"]
    assert body["checks"]["celery"]["status"] == "fail"
    assert time.monotonic() - started < 4


def test_public_healthz_gives_status_only_and_details_need_the_token(settings):
    settings.DEBUG = False
    anonymous = Client().get("/healthz")
    assert anonymous.status_code in (200, 503)
    assert set(anonymous.json()) == {"status"}
    assert Client().get("/healthz?details").status_code == 401
    assert Client().get("/healthz?details", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    _, body = _health()
    assert set(body["checks"]) == {"database", "redis", "celery"}
    settings.METRICS_TOKEN = ""  # no token configured: details are closed to everybody
    assert Client().get("/healthz?details").status_code == 403
    assert set(Client().get("/healthz").json()) == {"status"}


def test_healthz_answers_only_get():
    assert Client().post("/healthz").status_code == 405

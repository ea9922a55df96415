"""Shared fixtures: real Redis (REDIS_URL, set by `make test`), the test database, a live stack."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.fakes.llm_server import FakeLlmServer
from tests.support.live import ChatClient, LiveStack, database_url
from tests.support.requirements import missing_requirements

ROOT = Path(__file__).resolve().parents[1]
# The REST API's people and conversations (staff, world), shared by tests/chat and tests/hscode.
pytest_plugins = ["tests.support.api_world"]


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's test database, released before it is dropped.

    Threads of this process (database_sync_to_async's pool, the live server's) keep persistent connections
    (CONN_MAX_AGE) that nothing closes at the end of the run, and PostgreSQL refuses to drop a database that
    has sessions; they are ended here, so the teardown drops it cleanly.

    The data the product ships (HSK table) is loaded into it first, as `make run` does.
    """
    from django.core.management import call_command

    with django_db_blocker.unblock():
        call_command("load_shipped_data", "--no-progress", verbosity=0)
    yield
    from django.db import connection

    with django_db_blocker.unblock():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )


def shipped_data_ensure() -> None:
    """Load the shipped data unless it is there (a transactional test's flush empties every table)."""
    from django.core.management import call_command

    call_command("load_shipped_data", "--no-progress", verbosity=0)


@pytest.fixture(scope="module")
def shipped_data(django_db_setup, django_db_blocker):
    """For modules that read the shipped data (`pytestmark = pytest.mark.usefixtures("shipped_data")`): reload it
    if an earlier module's transactional tests flushed it. Module-scoped, so that it runs before (outside) each
    test's transaction; one query when the data is in place."""
    with django_db_blocker.unblock():
        shipped_data_ensure()


@pytest.fixture
def hsk_table(transactional_db):
    """The shipped HSK table, committed, inside a transactional test (live stacks read it from their process)."""
    shipped_data_ensure()


@pytest.fixture(autouse=True)
def _fresh_data_editions():
    """Each test starts with new data editions, so nothing cached by an earlier test (whose rows were rolled back
    or flushed) is served to it (hscode/cache.py)."""
    from customs.editions import editions_renew

    editions_renew()


@pytest.fixture(scope="session")
def redis_url() -> str:
    from django.conf import settings

    return settings.REDIS_URL


def redis_url_with_db(url: str, db: int) -> str:
    """The same Redis server, another database: queues and layer groups of that stack stay apart."""
    base = url.rsplit("/", 1)[0] if url.rsplit("/", 1)[-1].isdigit() else url.rstrip("/")
    return f"{base}/{db}"


# Every test client comes from 127.0.0.1 and the suite makes thousands of them; the limits have tests of their
# own (tests/security), which turn them on.
NO_LIMITS = {
    "CHAT_RATE_LIMIT_SESSION": "0",
    "CHAT_RATE_LIMIT_IP": "0",
    "CHAT_RATE_LIMIT_CONVERSATION_SESSION": "0",
    "CHAT_RATE_LIMIT_CONVERSATION_IP": "0",
    "CHAT_RATE_LIMIT_REPLAY_SESSION": "0",
    "CHAT_RATE_LIMIT_REPLAY_IP": "0",
    "CHAT_RATE_LIMIT_NEW_SESSION_IP": "0",
    "CHAT_RATE_LIMIT_FEEDBACK_SESSION": "0",
    "CHAT_RATE_LIMIT_FEEDBACK_IP": "0",
    "SSE_STREAMS_MAX_SESSION": "0",
    "SSE_STREAMS_MAX_IP": "0",
}


@pytest.fixture(autouse=True)
def _limits_off_in_process(settings):
    """The same for requests served in this process (Django's test client)."""
    for name, value in NO_LIMITS.items():
        setattr(settings, name, int(value) if name.startswith("SSE_") else value)


def pytest_collection_modifyitems(config, items):
    """Leave out, and say so, the tests whose programs this machine lacks (tests/support/requirements.py)."""
    missing = missing_requirements()
    if not missing:
        return
    if os.environ.get("TRADECHAT_TESTS_REQUIRE_ALL") == "1":
        raise pytest.UsageError(f"programs missing for these test markers: {missing}")
    kept, left_out = [], []
    for item in items:
        (left_out if any(item.get_closest_marker(m) for m in missing) else kept).append(item)
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = kept
        config._tradechat_left_out = (len(left_out), missing)


def pytest_terminal_summary(terminalreporter, config):
    left_out = getattr(config, "_tradechat_left_out", None)
    if left_out:
        count, missing = left_out
        terminalreporter.write_sep("=", f"{count} tests left out: programs missing on this machine", yellow=True)
        for marker, install in missing.items():
            terminalreporter.write_line(f"  {marker}: {install}")


def stack_env(**overrides: str) -> dict[str, str]:
    from django.conf import settings
    from django.db import connection

    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=database_url(connection.settings_dict),
        REDIS_URL=settings.REDIS_URL,
        PYTHONUNBUFFERED="1",
        DEBUG="1",
        **NO_LIMITS,
    )
    env.update(overrides)
    return env


def _unsettled_messages() -> list[tuple]:
    """A person's messages sent through the service (they have a message_created event, so their tasks were
    enqueued) whose buttons, answer or task records (A, B and C) are not finished yet; rows a test created
    directly are not waited for."""
    from conversations.models import ChatMessage
    from conversations.task_metrics import FINISHED, TASK_NAMES

    sent = ChatMessage.objects.filter(role="user", events__event="message_created").distinct()
    unsettled = []
    for pk, status, answer_status, metrics in sent.values_list("pk", "status", "answer__status",
                                                               "parallel_task_metrics"):
        tasks = (metrics or {}).get("task_execution") or {}
        recorded = set(tasks) == set(TASK_NAMES) and all(t.get("status") in FINISHED for t in tasks.values())
        if status in {"pending", "analysing"} or answer_status in {None, "streaming"} or not recorded:
            unsettled.append((pk, status, answer_status, sorted(tasks)))
    return unsettled


def _wait_until_settled(timeout: float = 90.0) -> None:
    """Until the live workers have finished every message the test sent: the test database is truncated next,
    and a TRUNCATE racing a worker's write deadlocks on PostgreSQL. Work still unfinished after `timeout` is a
    failure of the test that left it (a task lost, or never awaited), not something to step over."""
    import time

    deadline = time.monotonic() + timeout
    while unsettled := _unsettled_messages():
        if time.monotonic() > deadline:
            raise AssertionError(f"live work still unfinished after {timeout:.0f} s (pk, status, answer, tasks "
                                 f"recorded): {unsettled[:10]}")
        time.sleep(0.2)


@pytest.fixture(autouse=True)
def _settle_live_work(request):
    """For tests on a really committed database (transactional_db), let the live stacks go quiet first."""
    if "transactional_db" not in request.fixturenames:
        yield
        return
    request.getfixturevalue("transactional_db")  # set up inside: so this teardown runs before its flush
    yield
    _wait_until_settled()


@contextmanager
def side_stack(tmp_path_factory, name: str, redis_db: int, workers: int = 1, **env: str) -> Iterator[LiveStack]:
    """Another daphne + worker on the test database, configured differently, on its own Redis database
    (so its queues and layer groups never mix with the main stack's, or another side stack's: module fixtures of
    different modules can be alive at once, and two workers on one queue would take each other's tasks)."""
    from django.conf import settings

    holder = _SIDE_STACK_DBS.setdefault(redis_db, name)
    assert holder == name, f"Redis database {redis_db} is already used by the live side stack {holder!r}"
    stack = LiveStack(stack_env(REDIS_URL=redis_url_with_db(settings.REDIS_URL, redis_db), **env),
                      tmp_path_factory.mktemp(name))
    try:
        stack.start_daphne()
        for _ in range(workers):
            stack.start_worker()
        yield stack
    finally:
        stack.stop()
        _SIDE_STACK_DBS.pop(redis_db, None)


# Redis database -> the side stack using it now.
_SIDE_STACK_DBS: dict[int, str] = {}


@pytest.fixture(scope="session")
def live_stack(django_db_setup, django_db_blocker, tmp_path_factory):
    """daphne and a Celery worker as separate processes, on the database this test run created."""
    stack = LiveStack(stack_env(), tmp_path_factory.mktemp("live-logs"))
    try:
        stack.start_daphne()
        stack.start_worker()
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def live(live_stack, transactional_db):
    """The live stack with a database that is really committed to (and emptied after the test)."""
    return live_stack


@pytest.fixture
def chat_client(live):
    client = ChatClient(live.base_url)
    yield client
    client.close()


@pytest.fixture
def make_chat_client(live):
    clients: list[ChatClient] = []

    def make() -> ChatClient:
        client = ChatClient(live.base_url)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture(scope="session")
def llm_server():
    with FakeLlmServer() as server:
        yield server


@pytest.fixture
def llm(llm_server):
    """The session's fake LLM endpoint, healthy at the start of each test whatever fault the last one set."""
    llm_server.reset()
    yield llm_server
    llm_server.reset()


@pytest.fixture(scope="session")
def llm_stack(live_stack, llm_server, tmp_path_factory):
    """A second stack answering through the fake OpenAI-compatible endpoint."""
    with side_stack(tmp_path_factory, "llm-stack", 3, LLM_BACKEND="openai", LLM_BASE_URL=llm_server.base_url,
                    LLM_MODEL="fake-model", LLM_API_KEY="test-key", LLM_TIMEOUT_S="2") as stack:
        yield stack

"""The Celery app's handling of database connections between tasks."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from celery.fixups.django import DjangoWorkerFixup
from django.db import OperationalError, connection

from config.celery import _close_old_connections, app

WORKER_TASK = SimpleNamespace(request=SimpleNamespace(is_eager=False))


def _run_task_hooks(fixup: DjangoWorkerFixup) -> None:
    """What a worker does around each task: Celery's fixup, then ours."""
    fixup.on_task_prerun(sender=WORKER_TASK)
    _close_old_connections(task=WORKER_TASK)
    fixup.on_task_postrun(sender=WORKER_TASK)
    _close_old_connections(task=WORKER_TASK)


def test_a_worker_keeps_its_database_connection_from_one_task_to_the_next(transactional_db):
    fixup = DjangoWorkerFixup(app)
    connection.ensure_connection()
    opened = connection.connection
    for _ in range(3):
        _run_task_hooks(fixup)
        connection.ensure_connection()
    assert connection.connection is opened


def test_a_connection_older_than_conn_max_age_is_replaced_between_tasks(transactional_db):
    fixup = DjangoWorkerFixup(app)
    connection.ensure_connection()
    opened = connection.connection
    connection.close_at = time.monotonic() - 1  # past CONN_MAX_AGE
    _run_task_hooks(fixup)
    assert connection.connection is None
    connection.ensure_connection()
    assert connection.connection is not opened


def test_a_connection_the_server_dropped_is_replaced_before_the_next_task(transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip("terminates a PostgreSQL backend")
    fixup = DjangoWorkerFixup(app)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        dropped = cursor.fetchone()[0]
    other = connection.get_new_connection(connection.get_connection_params())
    try:
        other.autocommit = True
        other.execute("SELECT pg_terminate_backend(%s)", [dropped])
    finally:
        other.close()
    with pytest.raises(OperationalError), connection.cursor() as cursor:
        cursor.execute("SELECT 1")  # the task that met the dropped connection fails (and is retried)

    _run_task_hooks(fixup)

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != dropped


def test_an_eager_task_leaves_its_caller_s_transaction_alone(db):
    connection.ensure_connection()
    opened = connection.connection
    _close_old_connections(task=SimpleNamespace(request=SimpleNamespace(is_eager=True)))
    assert connection.connection is opened and connection.in_atomic_block

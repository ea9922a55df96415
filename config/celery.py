"""Celery application; configuration is read from Django settings (CELERY_*)."""

import os
import sys

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_init
from django.db.utils import InterfaceError, OperationalError
from kombu import Exchange, Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("tradechat")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Each queue with its own exchange and routing key: a bare Queue(name) would take the default exchange and
# routing key ("chat"), and on Redis every publish would then land in every queue bound to them.
app.conf.task_queues = tuple(Queue(name, Exchange(name), routing_key=name) for name in ("chat", "bulk", "io"))
app.conf.worker_proc_alive_timeout = 30

# A task whose database transaction failed (a deadlock victim, a database restart) changed nothing;
# every task is idempotent, so it is simply tried again with backoff.
DB_RETRY = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 0.5,
    "retry_backoff_max": 10,
    "retry_jitter": True,
    "max_retries": 8,
}
app.conf.beat_schedule = {
    # The event log is bounded: see EVENT_LOG_RETENTION_DAYS.
    "prune-event-log": {"task": "chat.tasks.event_log_prune", "schedule": 6 * 3600, "options": {"queue": "bulk"}},
    # Lost tasks (e.g. a broker restart without persistence) are found and enqueued again.
    "recover-stale-messages": {
        "task": "chat.tasks.messages_recover_stale",
        "schedule": float(os.environ.get("RECOVERY_INTERVAL_S") or 30),
    },
}
app.autodiscover_tasks()

# Celery's Django fixup closes every database connection before and after each task unless CELERY_DB_REUSE_MAX
# is set: a new connection per task (profiled: 5 % of the worker's CPU on SQLite; on PostgreSQL a TCP and auth
# handshake per task). With the largest value it never forces a close; tasks are treated like Django requests
# instead (below): only a connection that is broken, in an unfinished transaction or older than CONN_MAX_AGE is
# closed.
app.conf["CELERY_DB_REUSE_MAX"] = sys.maxsize


@task_prerun.connect
@task_postrun.connect
def _close_old_connections(task=None, **kwargs) -> None:
    if task is not None and getattr(task.request, "is_eager", False):
        return  # an eager task runs inside its caller's transaction (a test, a management command)
    from django.db import close_old_connections

    close_old_connections()


@worker_init.connect
def _warm_up_classifier(**kwargs) -> None:
    """Build the classifier's indexes once, in the main process, before the pool forks.

    The children inherit them and the case index (copy-on-write), so no child pays the ~12 s start-up cost, and
    none risks Celery's start-up timeout for pool processes on a busy machine. gc.freeze() then moves
    these long-lived objects out of the collector's view: collections in the children stop touching
    (and so copying) the inherited pages, and each full collection skips them.
    """
    import gc
    import logging

    from django.db import connections

    from hscode.analysis.analyse import warm_up
    from hscode.selectors import case_index_build_in_background, case_index_get

    warm_up()
    try:
        case_index_get()  # the shipped case index (~8 s, ~80 MB), shared with the children the same way
    except Exception:  # no database yet: each child builds it on its first message instead
        logging.getLogger(__name__).exception("case index not built before the fork")
    finally:
        connections.close_all()  # a connection must not be shared with the forked children
    # From now on a changed corpus is indexed beside the tasks, never inside one (hscode/selectors.py).
    case_index_build_in_background()
    gc.freeze()

"""One message's server-side work, in-process and step by step: SQL statements, commits, broadcasts, CPU.

    python -m bench.pipeline [--messages 30] [--pyinstrument]

Runs the same service functions that daphne and the Celery tasks run, in the order of one message, without
Celery in between (its hops are what the floor measures): message_create (daphne), then the one task's
orchestrator, message_process (tasks A, B and C; on the embedded defaults all inline). The database
is a fresh SQLite file of its own (or BENCH_DATABASE_URL); broadcasts go to a real Redis channel layer.
Counts per message and step: SQL statements by kind, transaction commits, group_sends, Celery enqueues,
wall and CPU time. With --pyinstrument, the call tree of the whole run is written to var/bench/pipeline.html
and its top is printed.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time
from pathlib import Path
from unittest import mock

from . import common

ROOT = Path(__file__).resolve().parent.parent


def _setup() -> None:
    from devtools.redis_server import ensure_redis_url

    work = ROOT / "var" / "bench"
    work.mkdir(parents=True, exist_ok=True)
    url = os.environ.get("BENCH_DATABASE_URL")
    if not url:
        path = work / "pipeline.sqlite3"
        path.unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    os.environ["DATABASE_URL"] = url
    redis_url, embedded = ensure_redis_url()
    os.environ["REDIS_URL"] = redis_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    return embedded


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.pipeline")
    parser.add_argument("--messages", type=int, default=30)
    parser.add_argument("--pyinstrument", action="store_true")
    args = parser.parse_args(argv)
    embedded = _setup()
    try:
        return _run(args)
    finally:
        if embedded:
            embedded.cleanup()


def _run(args) -> int:
    from django.db import connection
    from django.db.backends.base.base import BaseDatabaseWrapper

    import conversations.events
    from chat.services import message_create
    from conversations.models import Conversation
    from hscode.analysis.analyse import warm_up
    from hscode.pipeline import message_process
    from hscode.tasks import message_process_task

    warm_up()
    stage = {"name": "setup"}
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)

    def sql_wrapper(execute, sql, params, many, context):
        kind = sql.lstrip().split(" ", 1)[0].upper()
        counts[stage["name"]][f"sql {kind}"] += 1
        counts[stage["name"]]["sql total"] += 1
        return execute(sql, params, many, context)

    real_commit = BaseDatabaseWrapper._commit

    def counting_commit(self):
        counts[stage["name"]]["commits"] += 1
        return real_commit(self)

    # One channel-layer send per committed transaction (events_broadcast); a release before it sent one per event.
    batched = hasattr(conversations.events, "events_broadcast")
    broadcast_name = "events_broadcast" if batched else "event_broadcast"
    real_broadcast = getattr(conversations.events, broadcast_name)

    def counting_broadcast(conversation_id, frames):
        counts[stage["name"]]["group_send"] += 1
        for frame in frames if batched else [frames]:
            counts[stage["name"]][f"event {frame['event']}"] += 1
        return real_broadcast(conversation_id, frames)

    def enqueue(*a, **k):
        counts[stage["name"]]["celery enqueue"] += 1

    timings: dict[str, list[tuple[float, float]]] = collections.defaultdict(list)

    def step(name, fn, *a):
        stage["name"] = name
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn(*a)
        timings[name].append((time.perf_counter() - wall, time.process_time() - cpu))
        return result

    profiler = None
    if args.pyinstrument:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005)
    conversation = Conversation.objects.create(owner_session_key="bench-pipeline")
    patches = [
        mock.patch.object(BaseDatabaseWrapper, "_commit", counting_commit),
        mock.patch.object(conversations.events, broadcast_name, counting_broadcast),
        mock.patch.object(message_process_task, "delay", enqueue),
    ]
    for p in patches:
        p.start()
    try:
        with connection.execute_wrapper(sql_wrapper):
            if profiler:
                profiler.start()
            for n in range(args.messages):
                text = common.message_text(n, cold=True, nonce=os.getpid())
                message = step("daphne: message_create", lambda t=text: message_create(conversation=conversation,
                                                                                         text=t))
                step("worker: message_process (tasks A, B and C)", message_process, message.pk)
            if profiler:
                profiler.stop()
    finally:
        for p in patches:
            p.stop()

    n = args.messages
    steps = {}
    total: collections.Counter = collections.Counter()
    for name, values in timings.items():
        c = counts[name]
        total.update(c)
        calls = len(values)
        steps[name] = {
            "calls_per_msg": round(calls / n, 2),
            "wall_ms_per_call": round(1000 * sum(v[0] for v in values) / calls, 2),
            "cpu_ms_per_call": round(1000 * sum(v[1] for v in values) / calls, 2),
            "per_call": {k: round(v / calls, 2) for k, v in sorted(c.items())},
        }
    total.update(counts["task B: enqueue button"])
    out = {
        "database": connection.vendor,
        "messages": n,
        "steps": steps,
        "per_message": {k: round(v / n, 2) for k, v in sorted(total.items())},
        "cpu_ms_per_msg_in_process": round(1000 * sum(v[1] for vs in timings.values() for v in vs) / n, 2),
        "wall_ms_per_msg_in_process": round(1000 * sum(v[0] for vs in timings.values() for v in vs) / n, 2),
    }
    print(common.dumps(out))
    if profiler:
        html = ROOT / "var" / "bench" / "pipeline.html"
        html.write_text(profiler.output_html(), encoding="utf-8")
        print(profiler.output_text(unicode=True, color=False, show_all=False)[:12000])
        print(f"call tree: {html}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

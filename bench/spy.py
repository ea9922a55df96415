"""Where the server's CPU goes under load: py-spy attached to the worker (with its pool children) and daphne.

    python -m bench.spy [--clients 20] [--seconds 20] [--rate 100]

Starts the bench stack, runs a closed-loop load, records both processes with py-spy (sampling, from outside:
no code change, some overhead, so never during `make bench`), and prints, per process, the share of samples
in which each of the project's functions and a few named costs are on the stack (inclusive), the self time
by library area (innermost known frame), and the top leaf functions (self). Raw stacks are kept in
var/bench/*.raw (flamegraph.pl / speedscope can read them).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import re
import subprocess
import sys
from pathlib import Path

from . import common
from .stack import BenchStack
from .ws_load import run_load

PY_SPY = Path(sys.executable).with_name("py-spy")

# Library areas, matched on the file path of a frame (first match wins, in this order).
AREAS = [
    ("classification (hscode/analysis)", r"hscode/analysis/"),
    ("kiwipiepy (Korean morphemes)", r"kiwipiepy"),
    ("bm25s / numpy", r"bm25s|numpy"),
    ("asyncio / asgiref", r"asgiref/|asyncio/"),
    ("channels_redis layer", r"channels_redis/"),
    ("redis-py", r"site-packages/redis/"),
    ("Django ORM / sqlite", r"django/db/"),
    ("Django cache", r"django/core/cache"),
    ("json", r"/json/"),
    ("msgpack", r"msgpack"),
    ("kombu", r"kombu/"),
    ("celery", r"celery/"),
    ("billiard (prefork pool)", r"billiard/"),
    ("logging", r"/logging/"),
    ("daphne / twisted / autobahn", r"daphne/|twisted/|autobahn/"),
    ("channels", r"site-packages/channels/"),
]
OURS = re.compile(r"(?:^|/)(chat|hscode|trade|config|context7_client|bench|ops)/[^/]+\.py$")
# Named costs worth seeing on their own (inclusive), matched on "function (file)".
MARKERS = [
    ("async_to_sync (new loop per call)", r"AsyncToSync\.__call__"),
    ("redis-py new connection (connect + handshake)", r"AbstractConnection\.connect|on_connect"),
    ("redis-py driver info: importlib.metadata per connection", r"get_lib_version"),
    ("SQLite/DB commit", r"BaseDatabaseWrapper\._commit"),
    ("DB connection open/close", r"get_new_connection|BaseDatabaseWrapper\._close|close_if_unusable"),
    ("Celery task publish (delay/apply_async)", r"Task\.apply_async|Task\.delay"),
    ("logging", r"Logger\._log|Handler\.handle"),
    ("json dumps/loads", r"JSONEncoder\.encode|JSONDecoder\.decode|dumps \(json|loads \(json"),
    ("msgpack (channel layer serialise)", r"msgpack"),
    ("classification (analyse_text)", r"analyse_text"),
    ("on_commit broadcast (conversations.events.event_broadcast)", r"event_broadcast"),
]
FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*):(?P<line>\d+)\)$")


def _frames(stack: str) -> list[tuple[str, str]]:
    out = []
    for part in stack.split(";"):
        match = FRAME.match(part.strip())
        if match:
            out.append((match["func"], match["file"]))
        else:
            out.append((part.strip(), ""))
    return out


def summarise(raw: Path, top: int = 25) -> dict:
    """Inclusive share per project function and per library area; self share per leaf function."""
    total = 0
    idle = 0
    ours: collections.Counter = collections.Counter()
    areas: collections.Counter = collections.Counter()
    markers: collections.Counter = collections.Counter()
    leaves: collections.Counter = collections.Counter()
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        frames = _frames(stack)
        total += n
        leaf_func, leaf_file = frames[-1] if frames else ("?", "")
        if re.search(r"\b(select|poll|epoll|wait|_recv_loop|read|recv|sleep|acquire)\b", leaf_func) and not \
                any(OURS.search(f) for _, f in frames[-3:]):
            idle += n
        seen_ours = set()
        for func, file in frames:
            m = OURS.search(file)
            if m:
                key = f"{file[m.start(1):]}:{func}"
                if key not in seen_ours:
                    seen_ours.add(key)
                    ours[key] += n
        text = ";".join(f"{func} ({file})" for func, file in frames)
        for name, pattern in MARKERS:
            if re.search(pattern, text):
                markers[name] += n
        # Self time by area: the innermost frame that belongs to a known area (else "other").
        area = "other (stdlib: sockets, selectors, threads, email parser …)"
        for _func, file in reversed(frames):
            hit = next((a for a, pattern in AREAS if re.search(pattern, file)), None)
            if hit is None and OURS.search(file):
                hit = "project code (self)"
            if hit:
                area = hit
                break
        areas[area] += n
        short = leaf_file.split("site-packages/")[-1].split("/work/main/")[-1]
        leaves[f"{short}:{leaf_func}"] += n

    def pct(counter: collections.Counter) -> list[tuple[str, float]]:
        return [(k, round(100 * v / max(1, total), 1)) for k, v in counter.most_common(top)]

    return {"samples": total, "waiting_pct": round(100 * idle / max(1, total), 1), "project_inclusive_pct": pct(ours),
            "areas_self_pct": pct(areas), "markers_inclusive_pct": pct(markers), "leaf_self_pct": pct(leaves)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.spy")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--rate", type=int, default=100, help="py-spy samples a second")
    parser.add_argument("--idle", action="store_true", help="include samples of idle (waiting) threads")
    parser.add_argument("--summarise", nargs="+", metavar="RAW", help="only summarise existing raw files")
    args = parser.parse_args(argv)
    if args.summarise:
        print(common.dumps({raw: summarise(Path(raw)) for raw in args.summarise}))
        return 0
    with BenchStack() as stack:
        work = stack.work

        async def go() -> dict:
            await run_load(stack.base_url, name="warm", clients=2, messages=3)
            spies = {}
            for name, pid, extra in (("worker", stack.worker.pid, ["--subprocesses"]),
                                     ("daphne", stack.daphne.pid, [])):
                cmd = [str(PY_SPY), "record", "--pid", str(pid), *extra, "--format", "raw", "--rate",
                       str(args.rate), "--duration", str(args.seconds), "--nonblocking", "-o",
                       str(work / f"{name}.raw")]
                if args.idle:
                    cmd.append("--idle")
                spies[name] = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            await asyncio.sleep(1)
            result = await run_load(stack.base_url, name="spy", clients=args.clients, duration=args.seconds - 3,
                                    processes=stack.processes(), redis_url=stack.redis_url)
            for spy in spies.values():
                await asyncio.to_thread(spy.wait)
            return result

        load = asyncio.run(go())
    out = {"load": {k: load[k] for k in ("throughput_msg_s", "messages_finished", "cpu_ms_per_msg",
                                          "cpu_ms_per_msg_by_process", "redis_calls_per_msg")}}
    for name in ("worker", "daphne"):
        raw = work / f"{name}.raw"
        if raw.exists():
            out[name] = summarise(raw)
    print(common.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How many idle chat WebSockets one daphne process holds with heartbeats on, and what each one costs.

    python -m bench.idle_connections                  # own stack (bench.stack), 10,000 sockets
    python -m bench.idle_connections --url http://127.0.0.1:8000 --steps 500,1000,2000

Each socket is a real chat socket: /ws/chat/<conversation>/ of a conversation its session owns (the consumer
authorises, joins the conversation's group and reads the log head; it polls the log only while its own work is in
flight). At each step the sockets stay idle for --hold seconds (longer than daphne's 20 s ping interval, so every
socket is pinged and answers), while daphne's CPU and memory are read from /proc; then every socket is asked for
one frame (an unknown frame type, answered by an error frame) to prove the consumers are alive.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time

import psutil

from . import common
from .procs import listener_pid, open_files_limit


async def _conversations(base_url: str, count: int, per_session: int = 100) -> list[common.Session]:
    sessions = (count + per_session - 1) // per_session
    semaphore = asyncio.Semaphore(4)

    async def one(n: int) -> list[common.Session]:
        async with semaphore:
            return await common.session_create(base_url, n)

    sizes = [min(per_session, count - i * per_session) for i in range(sessions)]
    batches = await asyncio.gather(*(one(n) for n in sizes))
    return [s for batch in batches for s in batch]


async def _alive(sockets: list, timeout: float = 60) -> int:
    async def probe(ws) -> bool:
        try:
            await ws.send('{"type": "bench.probe"}')
            async with asyncio.timeout(timeout):
                while True:
                    frame = json.loads(await ws.recv())
                    if frame.get("event") == "error":
                        return True
        except Exception:
            return False

    semaphore = asyncio.Semaphore(200)

    async def limited(ws) -> bool:
        async with semaphore:
            return await probe(ws)

    return sum(await asyncio.gather(*(limited(ws) for ws in sockets)))


async def measure(base_url: str, steps: list[int], hold: float, daphne_pid: int) -> dict:
    daphne = psutil.Process(daphne_pid)
    result: dict = {"daphne_pid": daphne_pid, "server_open_files_limit": open_files_limit(daphne_pid),
                    "client_open_files_limit": common.raise_fd_limit(), "hold_s": hold, "steps": []}
    sessions = await _conversations(base_url, max(steps))
    rss0 = daphne.memory_info().rss
    result["daphne_rss_mb_before"] = round(rss0 / 2**20, 1)
    sockets: list = []
    failures = 0
    semaphore = asyncio.Semaphore(50)

    async def open_one(session: common.Session):
        async with semaphore:
            try:
                return await session.connect()
            except Exception:
                return None

    for step in steps:
        t = time.perf_counter()
        cpu = sum(daphne.cpu_times()[:2])
        opened = await asyncio.gather(*(open_one(s) for s in sessions[len(sockets):step]))
        failures += sum(1 for ws in opened if ws is None)
        sockets.extend(ws for ws in opened if ws is not None)
        connect_s = time.perf_counter() - t
        connect_cpu_ms = (sum(daphne.cpu_times()[:2]) - cpu) * 1000
        # Idle: nothing but daphne's pings (every 20 s) and the consumers' own timers.
        cpu = sum(daphne.cpu_times()[:2])
        started = time.perf_counter()
        await asyncio.sleep(hold)
        idle_cpu = sum(daphne.cpu_times()[:2]) - cpu
        held = sum(1 for ws in sockets if ws.state.name == "OPEN")
        rss = daphne.memory_info().rss
        fds = daphne.num_fds()
        alive = await _alive(sockets)
        entry = {
            "target": step,
            "open_after_hold": held,
            "alive": alive,
            "connect_failures_so_far": failures,
            "connect_s": round(connect_s, 2),
            "connect_cpu_ms_per_socket": round(connect_cpu_ms / max(1, len(opened)), 2),
            "idle_cpu_pct_of_one_core": round(100 * idle_cpu / (time.perf_counter() - started), 1),
            "daphne_rss_mb": round(rss / 2**20, 1),
            "rss_kb_per_socket": round((rss - rss0) / 1024 / max(1, held), 1),
            "daphne_fds": fds,
        }
        result["steps"].append(entry)
        print(json.dumps(entry), file=sys.stderr, flush=True)
        if held < step * 0.99:
            break
    result["held_max"] = max((s["alive"] for s in result["steps"]), default=0)
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.idle_connections")
    parser.add_argument("--url", default=os.environ.get("BENCH_URL"),
                        help="a running stack; default: start one (bench.stack)")
    parser.add_argument("--steps", default="10000")
    parser.add_argument("--hold", type=float, default=25.0, help="idle seconds per step (daphne pings every 20 s)")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    steps = sorted(int(x) for x in args.steps.split(","))
    common.raise_fd_limit()

    def run(base_url: str, pid: int) -> dict:
        out = asyncio.run(measure(base_url, steps, args.hold, pid))
        out["machine"] = common.machine()
        return out

    if args.url:
        pid = listener_pid(common.http_port(args.url))
        if pid is None:
            parser.error(f"nothing listens on {args.url}")
        result = run(args.url, pid)
    else:
        from .stack import BenchStack

        with BenchStack(name="idle") as stack:
            result = run(stack.base_url, stack.daphne.pid)
    text = common.dumps(result)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            fh.write(text)
    print(text)
    return 0 if result["held_max"] >= 2000 or max(steps) < 2000 else 1


if __name__ == "__main__":
    sys.exit(main())

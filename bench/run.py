"""`make bench`: the standard profile, every latency next to the stack's own floor measured in the same run.

    make bench                                   # starts its own stack on a free port (bench.stack)
    BENCH_URL=http://127.0.0.1:8000 make bench   # drives a running `make run` / compose stack instead
    BENCH_PROFILE=full make bench                # + idle sockets (bench.idle_connections) + layers (bench.layers)
    BENCH_PROFILE=quick make bench               # a one-minute check of the harness

Writes bench/results/<timestamp>.json and bench/results/<timestamp>.md (see docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

from devtools.stack import worker_node_prefixes

from . import common
from .floor import measure_floor
from .procs import StackProcesses, find_stack
from .ws_load import run_load

RESULTS = Path(__file__).resolve().parent / "results"

# name, clients, mode, kwargs for run_load
PROFILES = {
    "standard": [
        ("1-client-sequential", 1, "closed", {"messages": 40}),
        ("1-client-warm-cache", 1, "closed", {"messages": 26, "cold": False, "prime": True}),
        ("50-clients-closed", 50, "closed", {"duration": 30}),
        ("100-clients-closed", 100, "closed", {"duration": 30}),
        ("200-clients-closed", 200, "closed", {"duration": 30}),
        ("open-loop-4-per-s", 100, "open", {"rate": 4, "duration": 30, "warmup": 3}),
    ],
    "quick": [
        ("1-client-sequential", 1, "closed", {"messages": 10}),
        ("20-clients-closed", 20, "closed", {"duration": 8}),
        ("open-loop-5-per-s", 20, "open", {"rate": 5, "duration": 8, "warmup": 2}),
    ],
}
PROFILES["full"] = PROFILES["standard"]

LATENCY_KEYS = ("first_event_ms", "first_button_ms", "complete_ms", "first_delta_ms", "answer_complete_ms")


async def _profiles(base_url: str, plan: list, floor_p50: float | None, processes: StackProcesses | None,
                    redis_url: str | None, timeout: float) -> list[dict]:
    out = []
    for name, clients, mode, options in plan:
        options = dict(options)
        if options.pop("prime", False):
            # Every question once, unmeasured, so the measured run is served by the detail-page cache.
            await run_load(base_url, name="prime", clients=1, messages=len(common.TEXTS), cold=False)
        print(f"  {name} …", file=sys.stderr, flush=True)
        options.setdefault("timeout", timeout)
        result = await run_load(base_url, name=name, clients=clients, mode=mode, processes=processes,
                                redis_url=redis_url, floor_p50_ms=floor_p50, **options)
        print(f"    {result['throughput_msg_s']} msg/s, first button p50 {result['first_button_ms']['p50']} ms, "
              f"complete p50 {result['complete_ms']['p50']} ms, lost {result['lost_events']}, "
              f"errors {result['errors']}", file=sys.stderr, flush=True)
        out.append(result)
        if len(plan) > 1:
            await asyncio.sleep(2)  # let the stack go idle between profiles
    return out


async def measure(base_url: str, plan: list, *, processes: StackProcesses | None = None,
                  redis_url: str | None = None, floor_count: int = 300, timeout: float = 60.0) -> dict:
    """The floors, every profile of `plan`, and the floors again: the body of the result JSON."""
    print("floor …", file=sys.stderr, flush=True)
    floor = await measure_floor(base_url, count=floor_count, warmup=max(1, floor_count // 10), redis_url=redis_url)
    print(f"  celery {floor['floor_celery_ms']['p50']} ms, echo {floor['floor_echo_ms']['p50']} ms",
          file=sys.stderr, flush=True)
    out = dict(floor)
    out["profiles"] = await _profiles(base_url, plan, floor["floor_celery_ms"]["p50"], processes, redis_url, timeout)
    after = await measure_floor(base_url, count=max(1, floor_count // 2), warmup=max(1, floor_count // 20),
                                redis_url=redis_url)
    out["floor_celery_after_ms"] = after["floor_celery_ms"]
    out["floor_echo_after_ms"] = after["floor_echo_ms"]
    return out


def targets(result: dict) -> list[dict]:
    """The issue's targets, each met or with its measured gap."""
    floor = (result.get("floor_celery_ms") or {}).get("p50")
    by_name = {p["name"]: p for p in result["profiles"]}
    out = []
    single = by_name.get("1-client-sequential")
    if single and floor:
        for key, limit in (("first_button_ms", 3), ("complete_ms", 5)):
            p50 = single[key]["p50"]
            ratio = round(p50 / floor, 2) if p50 is not None else None
            out.append({"target": f"1 client: {key} p50 ≤ {limit}× Celery floor",
                        "measured": f"{p50} ms = {ratio}× floor ({floor} ms)",
                        "met": ratio is not None and ratio <= limit})
    hundred = by_name.get("100-clients-closed")
    if hundred:
        p99 = hundred["first_button_ms"]["p99"]
        out.append({"target": "100 clients closed-loop: ≥ 30 msg/s to buttons complete and answer complete",
                    "measured": f"{hundred['throughput_msg_s']} msg/s", "met": hundred["throughput_msg_s"] >= 30})
        out.append({"target": "100 clients closed-loop: zero lost events",
                    "measured": f"{hundred['lost_events']} lost, {hundred['errors']} errors",
                    "met": hundred["lost_events"] == 0})
        out.append({"target": "100 clients closed-loop: first button p99 < 500 ms",
                    "measured": f"{p99} ms", "met": p99 is not None and p99 < 500})
    idle = result.get("idle_connections")
    if idle:
        out.append({"target": "2,000 idle sockets held by one daphne process",
                    "measured": f"{idle['held_max']} held and answering", "met": idle["held_max"] >= 2000})
    return out


def _fmt(value) -> str:
    return "–" if value is None else (f"{value:g}" if isinstance(value, float) else str(value))


def markdown(result: dict) -> str:
    m = result["machine"]
    lines = [
        f"# Benchmark {result['timestamp']}",
        "",
        f"Machine: {m.get('cpus')} CPUs ({m.get('cpu', '?')}), Python {m.get('python')}, load average at start "
        f"{m.get('loadavg_at_start')}; commit {m.get('git', '?')}{' + uncommitted changes' if m.get('dirty') else ''}. "
        f"Stack: {result['stack']['kind']} ({result['stack'].get('database', '?')}).",
        "",
        "## Floors (same run, same daphne, Redis and worker)",
        "",
        "| floor | p50 ms | p90 | p99 | max | method |",
        "|---|---|---|---|---|---|",
    ]
    for key in ("floor_celery_ms", "floor_echo_ms", "floor_celery_after_ms", "floor_echo_after_ms"):
        f = result.get(key)
        if f:
            lines.append(f"| {key} | {_fmt(f['p50'])} | {_fmt(f['p90'])} | {_fmt(f['p99'])} | {_fmt(f['max'])} | "
                         f"{f.get('method', '')} |")
    lines += ["", "## Profiles (latency p50 / p99 in ms, ×floor = p50 ÷ Celery floor p50)", "",
              "| profile | clients | mode | msg/s | lost | errors | server CPU ms/msg | first event | first button "
              "| buttons complete | first delta | answer complete |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for p in result["profiles"]:
        cells = [f"{_fmt(p[k]['p50'])} / {_fmt(p[k]['p99'])} ({_fmt(p[k]['ratio_p50'])}×)" for k in LATENCY_KEYS]
        mode = p["mode"] + (f" {p['offered_msg_s']:g}/s" if p.get("offered_msg_s") else "") + f", {p['cache']}"
        lines.append(f"| {p['name']} | {p['clients']} | {mode} | {p['throughput_msg_s']} | {p['lost_events']} | "
                     f"{p['errors']} | {_fmt(p['cpu_ms_per_msg'])} | " + " | ".join(cells) + " |")
    lines += ["", "CPU per message by process (ms): " + "; ".join(
        f"{p['name']}: " + ", ".join(f"{k} {v:g}" for k, v in p["cpu_ms_per_msg_by_process"].items())
        for p in result["profiles"]), ""]
    lines += ["## Targets", "", "| target | measured | met |", "|---|---|---|"]
    for t in result["targets"]:
        lines.append(f"| {t['target']} | {t['measured']} | {'yes' if t['met'] else '**no**'} |")
    idle = result.get("idle_connections")
    if idle:
        lines += ["", "## Idle sockets (one daphne process)", "",
                  f"Server open-files limit {idle['server_open_files_limit']}, hold {idle['hold_s']} s per step.", "",
                  "| sockets | alive after hold | daphne RSS MB | KiB per socket | idle CPU % of a core | connect CPU "
                  "ms/socket |", "|---|---|---|---|---|---|"]
        for s in idle["steps"]:
            lines.append(f"| {s['target']} | {s['alive']} | {s['daphne_rss_mb']} | {s['rss_kb_per_socket']} | "
                         f"{s['idle_cpu_pct_of_one_core']} | {s['connect_cpu_ms_per_socket']} |")
    layers = result.get("layers")
    if layers:
        lines += ["", f"## Channel layers ({layers['receivers']} receivers)", "",
                  "| layer | scenario | group_sends | dropped | delivery p50 / p99 ms | all members p50 / p99 ms "
                  "| sender call p50 ms | receiver CPU ms/delivery |", "|---|---|---|---|---|---|---|---|"]
        for layer in layers["layers"]:
            for scenario in ("fanout", "app", "burst_app", "burst_fanout"):
                s = layer[scenario]
                lines.append(f"| {layer['layer']} | {scenario} | {s['group_sends']} | {s['dropped']} | "
                             f"{_fmt(s['delivery_ms']['p50'])} / {_fmt(s['delivery_ms']['p99'])} | "
                             f"{_fmt(s['all_members_ms']['p50'])} / {_fmt(s['all_members_ms']['p99'])} | "
                             f"{_fmt(s['sender_call_ms']['p50'])} | {s['receiver_cpu_ms_per_delivery']} |")
    return "\n".join(lines) + "\n"


def _dirty() -> bool:
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                             text=True, timeout=10).stdout
    except Exception:
        return False
    return bool(out.strip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.run", description="the standard benchmark profile")
    parser.add_argument("--url", default=os.environ.get("BENCH_URL"),
                        help="drive this running stack instead of starting one")
    parser.add_argument("--profile", default=os.environ.get("BENCH_PROFILE", "standard"), choices=sorted(PROFILES))
    parser.add_argument("--floor-count", type=int, default=300)
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds a message may take before it counts "
                        "as an error (closed loop at saturation: about clients / capacity)")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    common.raise_fd_limit()
    stamp = dt.datetime.now().strftime("%Y%m%dT%H%M%S")
    result: dict = {"timestamp": stamp, "profile": args.profile, "machine": common.machine()}
    result["machine"]["dirty"] = _dirty()
    stack = None
    started = time.perf_counter()
    try:
        if args.url:
            base_url, redis_url = args.url, os.environ.get("REDIS_URL")
            processes = find_stack(common.http_port(base_url), common.redis_port(redis_url),
                                   worker_node_prefixes(common.http_port(base_url)))
            result["stack"] = {"kind": f"external {base_url}", "database": "as configured there"}
        else:
            from .stack import BenchStack

            print("starting the bench stack …", file=sys.stderr, flush=True)
            stack = BenchStack().start()
            base_url, redis_url, processes = stack.base_url, stack.redis_url, stack.processes()
            result["stack"] = {"kind": "bench.stack (daphne + celery -c 2, like make run)",
                               "database": stack.database_url.split("://")[0], "url": base_url}
        result["stack"]["processes"] = processes.describe()

        result.update(asyncio.run(measure(base_url, PROFILES[args.profile], processes=processes,
                                          redis_url=redis_url, floor_count=args.floor_count,
                                          timeout=args.timeout)))
        if args.profile == "full":
            from .idle_connections import measure as idle_measure

            print("idle sockets …", file=sys.stderr, flush=True)
            result["idle_connections"] = asyncio.run(idle_measure(base_url, [500, 1000, 2000, 3000], 25.0,
                                                             processes.roles["daphne"][0]))
    finally:
        if stack is not None:
            stack.stop()
    if args.profile == "full":
        print("channel layers …", file=sys.stderr, flush=True)
        layers_json = Path(args.out) / f"{stamp}-layers.json"
        subprocess.run([sys.executable, "-m", "bench.layers", "--json", str(layers_json)], check=True,
                       stdout=subprocess.DEVNULL)
        import json

        result["layers"] = json.loads(layers_json.read_text())
        layers_json.unlink()
    result["wall_s"] = round(time.perf_counter() - started, 1)
    result["targets"] = targets(result)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stamp}.json").write_text(common.dumps(result), encoding="utf-8")
    (out / f"{stamp}.md").write_text(markdown(result), encoding="utf-8")
    print(markdown(result))
    print(f"written: {out / (stamp + '.json')} and .md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

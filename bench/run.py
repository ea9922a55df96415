"""`make bench`: the standard benchmark, every latency next to the app-path floor measured around it in the same run.

    make bench                                   # headline on PostgreSQL (private database), SQLite secondary
    BENCH_DATABASE_URL=postgres://… make bench   # the headline on this database (dropped and created if its
                                                 # name contains "bench"); BENCH_DATABASE_URL=sqlite: SQLite only
    BENCH_PROFILE=quick make bench               # a two-minute check of the harness
    BENCH_PROFILE=full make bench                # + 50/200 clients, warm cache, channel-layer comparison
    BENCH_PROFILE=soak make bench                # the 1,000-client soak (bench.soak, about 14 minutes)
    BENCH_URL=http://127.0.0.1:8000 make bench   # drive a running stack (make run / compose) instead

Writes bench/results/<timestamp>.json and bench/results/<timestamp>.md (schema: docs/benchmarks.md). Exits 1 when
a run lost, duplicated or reordered a frame, or had errors.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from devtools.stack import process_group_stop, worker_node_prefixes

from . import cache_mix, common
from .floor import measure_floor
from .pgcpu import PostgresCpu
from .procs import StackProcesses, find_stack
from .ws_load import run_load

RESULTS = Path(__file__).resolve().parent / "results"
FIRST_BUTTON_P99_LIMIT_MS = 100.0

# A profile: (name, clients, mode, run_load options, repeats).
STANDARD = {
    "headline": [
        ("1-client-sequential", 1, "closed", {"messages": 25}, 3),
        ("100-clients-closed", 100, "closed", {"duration": 20}, 3),
    ],
    "sweep": {"clients": 100, "start": 4.0, "factor": 1.5, "max": 120.0, "duration": 12, "warmup": 2,
              "confirm": 2},
    "mix": [
        ("mix-1-client-sequential", 1, "closed", {"messages": 10}, 3),
        ("mix-100-clients-closed", 100, "closed", {"duration": 20}, 3),
    ],
    "secondary": [
        ("1-client-sequential", 1, "closed", {"messages": 25}, 3),
        ("100-clients-closed", 100, "closed", {"duration": 20}, 3),
    ],
    "idle": {"steps": [10000], "hold": 25.0},
    # The per-code cache under different wordings about a set of codes (bench.cache_mix), each round cold.
    "cache_mix": {"rounds": 3, "clients": 4, "codes": 12},
    "floor_count": 100,
    # Seconds each stage takes on a quiet machine (scaled by how much slower the headline ran than its own
    # estimate): a stage that would end past BENCH_BUDGET_S is skipped, and the result says so.
    "estimates": {"headline": 330, "idle": 150, "cache_mix": 60, "mix": 110, "secondary": 100},
}
QUICK = {
    "headline": [
        ("1-client-sequential", 1, "closed", {"messages": 8}, 3),
        ("20-clients-closed", 20, "closed", {"duration": 6}, 3),
    ],
    "sweep": {"clients": 20, "start": 4.0, "factor": 2.0, "max": 16.0, "duration": 5, "warmup": 1, "confirm": 0},
    "mix": [("mix-20-clients-closed", 20, "closed", {"duration": 6}, 3)],
    "secondary": [],
    "idle": {"steps": [500], "hold": 22.0},
    "cache_mix": {"rounds": 2, "clients": 2, "codes": 3},
    "floor_count": 40,
    "estimates": {"headline": 90, "idle": 40, "cache_mix": 20, "mix": 40, "secondary": 0},
}
FULL = {
    **STANDARD,
    "headline": [
        *STANDARD["headline"],
        ("1-client-warm-cache", 1, "closed", {"messages": 26, "cold": False, "prime": True}, 3),
        ("50-clients-closed", 50, "closed", {"duration": 20}, 3),
        ("200-clients-closed", 200, "closed", {"duration": 20}, 3),
    ],
}
PLANS = {"standard": STANDARD, "quick": QUICK, "full": FULL}

LATENCY_KEYS = ("first_event_ms", "first_button_ms", "complete_ms", "first_delta_ms", "answer_complete_ms",
                "task_c_ms", "finished_ms")
BUDGET_S = float(os.environ.get("BENCH_BUDGET_S", 570))
MIX_DELTAS = 50
MIX_DELTA_DELAY_S = 0.025


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def spread(values: list[float]) -> dict:
    values = [v for v in values if v is not None]
    if not values:
        return {"median": None, "min": None, "max": None, "runs": []}
    return {"median": round(statistics.median(values), 2), "min": round(min(values), 2),
            "max": round(max(values), 2), "runs": [round(v, 2) for v in values]}


class Bench:
    """One stack's worth of measurements: floors around every run, runs repeated, results kept in order."""

    def __init__(self, base_url: str, processes: StackProcesses | None, redis_url: str | None,
                 pg: PostgresCpu | None, floor_count: int, timeout: float):
        self.base_url = base_url
        self.processes = processes
        self.redis_url = redis_url
        self.pg = pg
        self.floor_count = floor_count
        self.timeout = timeout
        self.floors: list[dict] = []

    async def floor(self, label: str) -> dict:
        reading = await measure_floor(self.base_url, count=self.floor_count, warmup=max(3, self.floor_count // 10),
                                      redis_url=self.redis_url)
        reading["label"] = label
        reading["at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        with_load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        reading["loadavg_1m"] = round(with_load, 2) if with_load is not None else None
        self.floors.append(reading)
        log(f"    floor ({label}): app path {reading['floor_celery_ms']['p50']} ms, "
            f"echo {reading['floor_echo_ms']['p50']} ms, load {reading['loadavg_1m']}")
        return reading

    async def one_run(self, name: str, clients: int, mode: str, options: dict, run_index: int) -> dict:
        options = dict(options)
        if options.pop("prime", False):
            # Every question once, unmeasured, so the measured run is served by the detail-page cache.
            await run_load(self.base_url, name="prime", clients=1, messages=len(common.TEXTS), cold=False)
        options.setdefault("timeout", self.timeout)
        before = self.floors[-1] if self.floors else await self.floor(f"before {name}")
        result = await run_load(self.base_url, name=name, clients=clients, mode=mode, processes=self.processes,
                                redis_url=self.redis_url, pg=self.pg, **options)
        after = await self.floor(f"after {name} #{run_index + 1}")
        floor_p50 = statistics.mean([before["floor_celery_ms"]["p50"], after["floor_celery_ms"]["p50"]])
        result["run"] = run_index + 1
        result["floor_before_ms"] = before["floor_celery_ms"]["p50"]
        result["floor_after_ms"] = after["floor_celery_ms"]["p50"]
        result["floor_drift_pct"] = round(100 * (after["floor_celery_ms"]["p50"] / before["floor_celery_ms"]["p50"]
                                                 - 1), 1)
        result["floor_p50_ms"] = round(floor_p50, 3)
        for key in LATENCY_KEYS:
            p50 = result[key]["p50"]
            result[key]["ratio_p50"] = round(p50 / floor_p50, 2) if p50 is not None else None
        log(f"  {name} #{run_index + 1}: {result['throughput_msg_s']} msg/s, first button p50/p99 "
            f"{result['first_button_ms']['p50']}/{result['first_button_ms']['p99']} ms, finished p50 "
            f"{result['finished_ms']['p50']} ms, CPU {result['cpu_ms_per_msg']} ms/msg, lost {result['lost_events']}"
            f", dup {result['duplicates']}, ooo {result['out_of_order']}, back-filled {result['backfilled_frames']}, "
            f"errors {result['errors']}")
        return result

    async def profile(self, name: str, clients: int, mode: str, options: dict, repeats: int) -> dict:
        runs = [await self.one_run(name, clients, mode, options, i) for i in range(repeats)]
        return summarise(name, clients, mode, runs)

    async def sweep(self, plan: dict) -> dict:
        """Open loop at rising offered rates: the highest rate whose first-button p99 stays ≤ the limit."""
        clients, duration, warmup = plan["clients"], plan["duration"], plan["warmup"]
        steps: list[dict] = []

        async def step(rate: float, label: str) -> dict:
            result = await self.one_run(f"open-{rate:g}-per-s{label}", clients, "open",
                                        {"rate": rate, "duration": duration, "warmup": warmup}, 0)
            p99 = result["first_button_ms"]["p99"]
            result["meets_limit"] = bool(p99 is not None and p99 <= FIRST_BUTTON_P99_LIMIT_MS
                                         and not result["failed"] and result["throughput_msg_s"] >= 0.9 * rate)
            steps.append(result)
            return result

        rate, best, worst = plan["start"], None, None
        while rate <= plan["max"]:
            if (await step(rate, ""))["meets_limit"]:
                best, rate = rate, round(rate * plan["factor"], 1)
            else:
                worst = rate
                break
        while best is None and worst is not None and worst / 2 >= plan.get("min", 1.0):
            # Missed at the first rate: halve until one meets the limit (a slow or busy machine).
            rate = round(worst / 2, 2)
            if (await step(rate, ""))["meets_limit"]:
                best = rate
            else:
                worst = rate
        if best is not None and worst is not None and worst - best > 1.0:
            middle = round((best + worst) / 2, 1)
            if (await step(middle, " (between)"))["meets_limit"]:
                best = middle
        confirm = []
        if best is not None and plan.get("confirm"):
            for i in range(plan["confirm"]):
                confirm.append(await step(best, f" (confirm {i + 1})"))
        at_best = [s for s in steps if s["offered_msg_s"] == best]
        p99s = [s["first_button_ms"]["p99"] for s in at_best]
        return {
            "limit_first_button_p99_ms": FIRST_BUTTON_P99_LIMIT_MS,
            "clients": clients, "duration_s": duration, "warmup_s": warmup,
            "highest_rate_meeting_limit": best,
            "lowest_rate_missing_limit": worst,
            "at_highest_rate": {"runs": len(at_best), "first_button_p99_ms": spread(p99s),
                                "met_in_runs": sum(1 for s in at_best if s["meets_limit"])},
            "steps": steps,
        }


def summarise(name: str, clients: int, mode: str, runs: list[dict]) -> dict:
    """A profile: its runs, and the median, min and max of each headline figure over them."""
    out = {"name": name, "clients": clients, "mode": mode, "repeats": len(runs),
           "throughput_msg_s": spread([r["throughput_msg_s"] for r in runs]),
           "cpu_ms_per_msg": spread([r["cpu_ms_per_msg"] for r in runs]),
           "lost_events": sum(r["lost_events"] for r in runs),
           "duplicates": sum(r["duplicates"] for r in runs),
           "out_of_order": sum(r["out_of_order"] for r in runs),
           "errors": sum(r["errors"] for r in runs),
           "backfilled_frames": (sum(r["backfilled_frames"] for r in runs)
                                 if all(r["backfilled_frames"] is not None for r in runs) else None),
           "failed": [f"run {r['run']}: {f}" for r in runs for f in r["failed"]],
           "runs": runs}
    for key in LATENCY_KEYS:
        out[key] = {"p50": spread([r[key]["p50"] for r in runs]), "p99": spread([r[key]["p99"] for r in runs]),
                    "ratio_p50": spread([r[key]["ratio_p50"] for r in runs])}
    by_process: dict[str, list[float]] = {}
    for r in runs:
        for role, value in r["cpu_ms_per_msg_by_process"].items():
            by_process.setdefault(role, []).append(value)
    out["cpu_ms_per_msg_by_process"] = {role: spread(values) for role, values in by_process.items()}
    return out


def floor_drift(floors: list[dict]) -> dict:
    p50s = [f["floor_celery_ms"]["p50"] for f in floors if f["floor_celery_ms"].get("p50")]
    if not p50s:
        return {}
    return {"readings": len(p50s), "first_ms": p50s[0], "last_ms": p50s[-1], "min_ms": min(p50s), "max_ms": max(p50s),
            "max_over_min_pct": round(100 * (max(p50s) / min(p50s) - 1), 1),
            "last_over_first_pct": round(100 * (p50s[-1] / p50s[0] - 1), 1)}


def failures_of(section: dict) -> list[str]:
    out = []
    for profile in section.get("profiles", []):
        out += [f"{section['label']} {profile['name']} {f}" for f in profile["failed"]]
    for step in (section.get("sweep") or {}).get("steps", []):
        out += [f"{section['label']} {step['name']} {f}" for f in step["failed"]]
    return out


async def measure_stack(label: str, base_url: str, processes: StackProcesses | None, redis_url: str | None,
                        pg: PostgresCpu | None, profiles: list, sweep: dict | None, floor_count: int,
                        timeout: float) -> dict:
    bench = Bench(base_url, processes, redis_url, pg, floor_count, timeout)
    log(f"{label}: warm-up (unmeasured) …")
    await run_load(base_url, name="warm-up", clients=4, messages=3, timeout=timeout)
    await bench.floor("start")
    section: dict = {"label": label, "profiles": []}
    for name, clients, mode, options, repeats in profiles:
        section["profiles"].append(await bench.profile(name, clients, mode, options, repeats))
    if sweep:
        log(f"{label}: open-loop sweep …")
        section["sweep"] = await bench.sweep(sweep)
    section["floors"] = bench.floors
    section["floor_drift"] = floor_drift(bench.floors)
    return section


def _start_fakes(work: Path) -> tuple[list[subprocess.Popen], dict[str, str], dict]:
    """The fake LLM endpoint (about 50 deltas) and the fake Context7 server, as processes on 127.0.0.1."""
    procs, env = [], {}
    llm = subprocess.Popen([sys.executable, "-m", "bench.fake_llm", "--deltas", str(MIX_DELTAS), "--delay",
                            str(MIX_DELTA_DELAY_S)], cwd=Path(__file__).resolve().parent.parent,
                           stdout=subprocess.PIPE, text=True, start_new_session=True)
    procs.append(llm)
    line = llm.stdout.readline().split()
    if len(line) != 2 or line[0] != "READY":
        raise RuntimeError("the fake LLM endpoint did not start")
    env.update(LLM_BACKEND="openai", LLM_BASE_URL=line[1], LLM_MODEL="fake-model", LLM_API_KEY="bench-key")
    c7 = subprocess.Popen([sys.executable, "-m", "tests.fakes.context7_server", "--port", "0"],
                          cwd=Path(__file__).resolve().parent.parent, stdout=subprocess.PIPE, text=True,
                          start_new_session=True)
    procs.append(c7)
    line = c7.stdout.readline().split()
    if len(line) != 2 or line[0] != "READY":
        raise RuntimeError("the fake Context7 server did not start")
    env.update(CONTEXT7_API_URL=line[1], CONTEXT7_API_KEY="ctx7sk-bench",
               CONTEXT7_LIBRARY_ID="/wco/hs-nomenclature-2022")
    info = {"llm": {"deltas": MIX_DELTAS, "delay_s": MIX_DELTA_DELAY_S, "url": env["LLM_BASE_URL"]},
            "context7": {"url": env["CONTEXT7_API_URL"], "library": env["CONTEXT7_LIBRARY_ID"],
                         "cache": "on (default settings)"}}
    return procs, env, info


class Budget:
    """`make bench` stays under BENCH_BUDGET_S: a stage that would end past it is skipped, and said so."""

    def __init__(self, plan: dict):
        self.started = time.perf_counter()
        self.estimates = plan.get("estimates", {})
        self.scale = 1.0
        self.skipped: list[str] = []

    def headline_done(self) -> None:
        nominal = self.estimates.get("headline")
        if nominal:
            self.scale = max(1.0, (time.perf_counter() - self.started) / nominal)

    def allows(self, stage: str) -> bool:
        elapsed = time.perf_counter() - self.started
        needed = self.estimates.get(stage, 0) * self.scale
        if elapsed + needed <= BUDGET_S:
            return True
        self.skipped.append(f"{stage}: needs about {needed:.0f} s at this machine's pace, {elapsed:.0f} s of "
                            f"{BUDGET_S:.0f} s used")
        log(f"skipping {stage} (time budget): {self.skipped[-1]}")
        return False


def _stack_section(stack, label: str, plan_profiles: list, sweep: dict | None, plan: dict, args,
                   idle: dict | None = None, budget: Budget | None = None) -> dict:
    pg = PostgresCpu(stack.database_url).start() if stack.database_kind == "postgresql" else None
    processes = stack.processes()
    try:
        section = asyncio.run(measure_stack(label, stack.base_url, processes, stack.redis_url, pg, plan_profiles,
                                            sweep, plan["floor_count"], args.timeout))
        if budget is not None:
            budget.headline_done()
        if idle and (budget is None or budget.allows("idle")):
            from .idle_connections import measure as idle_measure

            log(f"{label}: {max(idle['steps']):,} idle sockets on one daphne …")
            section["idle_connections"] = asyncio.run(idle_measure(stack.base_url, idle["steps"], idle["hold"],
                                                                   stack.daphne.pid))
        mix = plan.get("cache_mix") if idle else None  # on the headline stack only
        if mix and (budget is None or budget.allows("cache_mix")):
            log(f"{label}: per-code cache under a mix of wordings ({mix['rounds']} cold rounds) …")
            section["cache_mix"] = asyncio.run(cache_mix.measure(
                stack.base_url, metrics_token=stack.metrics_token, invalidate=stack.data_editions_bump,
                rounds=mix["rounds"], clients=mix["clients"], codes=mix["codes"], timeout=args.timeout))
    finally:
        if pg is not None:
            pg.stop()
    section["stack"] = {"database": stack.database_kind, "debug": stack.debug, "url": stack.base_url,
                        "processes": processes.describe(), "postgres_cpu": pg.describe() if pg else None}
    return section


def run_own_stacks(plan: dict, args, result: dict, budget: Budget) -> None:
    from .stack import BenchStack, database_choose, postgres_drop

    database_url, why = database_choose()
    result["database_choice"] = why
    headline_kind = "postgresql" if database_url else "sqlite"
    log(f"headline database: {headline_kind} ({why})")

    stack = BenchStack(database_url=database_url, redis_db=0, name="headline")
    created_url = stack.database_url if headline_kind == "postgresql" else None
    try:
        log("starting the headline stack …")
        stack.start()
        result["headline"] = _stack_section(stack, f"headline ({headline_kind})", plan["headline"], plan["sweep"],
                                            plan, args, idle=plan.get("idle"), budget=budget)
        stack.stop(drop=False)

        if plan.get("mix") and budget.allows("mix"):
            fakes, env, info = _start_fakes(stack.work)
            try:
                mix = BenchStack(database_url=stack.database_url, redis_db=1, env=env, fresh=False, name="mix")
                log("starting the mix stack (LLM fake with ~50 deltas, Context7 fake on) …")
                mix.start()
                try:
                    section = _stack_section(mix, f"mix ({headline_kind})", plan["mix"], None, plan, args)
                finally:
                    mix.stop(drop=False)
                section["fakes"] = info
                result["mix"] = section
            finally:
                for proc in fakes:
                    process_group_stop(proc)
    finally:
        stack.stop(drop=False)
        if created_url and stack._created_database:
            postgres_drop(created_url)

    if plan.get("secondary") and headline_kind == "postgresql" and budget.allows("secondary"):
        secondary = BenchStack(database_url=None, redis_db=2, name="secondary")
        log("starting the secondary stack (SQLite) …")
        secondary.start()
        try:
            result["secondary"] = _stack_section(secondary, "secondary (sqlite)", plan["secondary"], None, plan, args)
        finally:
            secondary.stop()


def run_external(plan: dict, args, result: dict) -> None:
    base_url, redis_url = args.url, os.environ.get("REDIS_URL")
    processes = find_stack(common.http_port(base_url), common.redis_port(redis_url),
                           worker_node_prefixes(common.http_port(base_url)))
    pg_url = os.environ.get("BENCH_PG_CPU_URL")  # the stack's DATABASE_URL, to count its backends' CPU
    pg = PostgresCpu(pg_url).start() if pg_url else None
    try:
        section = asyncio.run(measure_stack(f"external {base_url}", base_url, processes, redis_url, pg,
                                            plan["headline"], plan["sweep"], plan["floor_count"], args.timeout))
    finally:
        if pg is not None:
            pg.stop()
    section["stack"] = {"database": "as configured there", "url": base_url, "processes": processes.describe(),
                        "postgres_cpu": pg.describe() if pg else "not counted (set BENCH_PG_CPU_URL)"}
    result["headline"] = section


def targets(result: dict) -> list[dict]:
    """Issue 19's targets for the headline, each met or with its measured figure."""
    head = result.get("headline") or {}
    by_name = {p["name"]: p for p in head.get("profiles", [])}
    out = []
    hundred = by_name.get("100-clients-closed")
    if hundred:
        tp = hundred["throughput_msg_s"]
        out.append({"target": "100 clients closed loop ≥ 50 fully processed msg/s (median of 3)",
                    "measured": f"{tp['median']} msg/s (min {tp['min']}, max {tp['max']})",
                    "met": tp["median"] is not None and tp["median"] >= 50})
        cpu = hundred["cpu_ms_per_msg"]
        parts = ", ".join(f"{role} {value['median']}" for role, value in hundred["cpu_ms_per_msg_by_process"].items())
        out.append({"target": "server CPU ≤ 30 ms per message, PostgreSQL included (100 clients, median)",
                    "measured": f"{cpu['median']} ms ({parts})",
                    "met": cpu["median"] is not None and cpu["median"] <= 30})
    single = by_name.get("1-client-sequential")
    if single:
        for key, limit, label in (("first_button_ms", 3, "first button"), ("complete_ms", 4, "buttons complete")):
            ratio = single[key]["ratio_p50"]
            out.append({"target": f"1 client: {label} p50 ≤ {limit}× the app-path floor of the same run",
                        "measured": f"{single[key]['p50']['median']} ms = {ratio['median']}× (runs {ratio['runs']})",
                        "met": ratio["median"] is not None and ratio["median"] <= limit})
    sweep = head.get("sweep")
    if sweep:
        best = sweep["highest_rate_meeting_limit"]
        out.append({"target": "open loop: highest offered rate with first-button p99 ≤ 100 ms ≥ 40 msg/s",
                    "measured": f"{best} msg/s (missed at {sweep['lowest_rate_missing_limit']})",
                    "met": best is not None and best >= 40})
    idle = head.get("idle_connections")
    if idle and idle.get("steps"):
        last = idle["steps"][-1]
        out.append({"target": "10,000 idle sockets on one daphne: ≤ 30 KB each and ≤ 3 % of a core",
                    "measured": f"{last['alive']:,} alive of {last['target']:,}: {last['rss_kb_per_socket']} KiB "
                                f"each, {last['idle_cpu_pct_of_one_core']} % of a core",
                    "met": last["alive"] >= 10000 and last["rss_kb_per_socket"] <= 30
                    and last["idle_cpu_pct_of_one_core"] <= 3})
    mix = (head.get("cache_mix") or {}).get("summary")
    if mix:
        ratio, p99 = mix["hit_ratio"], mix["hits_p99_ms"]
        out.append({"target": "per-code cache: hit ratio ≥ 0.70 in every round of the mix of wordings (issue 20)",
                    "measured": f"mean {ratio['mean']} (min {ratio['min']}, max {ratio['max']})",
                    "met": mix["targets"]["hit_ratio_at_least_0.70"]})
        out.append({"target": "per-code cache: a hit's buttons within 1 s at p99 in every round (issue 20)",
                    "measured": f"p99 mean {p99['mean']} ms (max {p99['max']})",
                    "met": mix["targets"]["hit_p99_within_1s"]})
    lost = sum(p["lost_events"] for s in ("headline", "mix", "secondary") for p in (result.get(s) or {}).get(
        "profiles", []))
    dup = sum(p["duplicates"] + p["out_of_order"] for s in ("headline", "mix", "secondary")
              for p in (result.get(s) or {}).get("profiles", []))
    backfills = [p["backfilled_frames"] for s in ("headline", "mix", "secondary")
                 for p in (result.get(s) or {}).get("profiles", [])]
    known = [b for b in backfills if b is not None]
    out.append({"target": "0 lost, 0 duplicates (and none out of order); back-fills reported",
                "measured": f"{lost} lost, {dup} duplicated or out of order, back-filled frames "
                            f"{sum(known) if known else 'n/a'}",
                "met": lost == 0 and dup == 0})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.run", description="the standard benchmark")
    parser.add_argument("--url", default=os.environ.get("BENCH_URL"),
                        help="drive this running stack instead of starting one")
    parser.add_argument("--profile", default=os.environ.get("BENCH_PROFILE", "standard"),
                        choices=[*sorted(PLANS), "soak"])
    parser.add_argument("--soak", action="store_true", help="the 1,000-client soak (bench.soak)")
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds a message may take before it counts "
                        "as an error (closed loop at saturation: about clients / capacity)")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    if args.soak or args.profile == "soak":
        from .soak import main as soak_main

        return soak_main([] if not args.url else ["--url", args.url])
    common.raise_fd_limit()
    plan = PLANS[args.profile]
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    result: dict = {"schema": 2, "timestamp": stamp, "profile": args.profile, "machine": common.machine()}
    result["machine"]["dirty"] = _dirty()
    started = time.perf_counter()
    budget = Budget(plan)
    if args.url:
        run_external(plan, args, result)
    else:
        run_own_stacks(plan, args, result, budget)
    result["skipped"] = budget.skipped
    if args.profile == "full":
        log("channel layers …")
        layers_json = Path(args.out) / f"{stamp}-layers.json"
        subprocess.run([sys.executable, "-m", "bench.layers", "--json", str(layers_json)], check=True,
                       stdout=subprocess.DEVNULL)
        result["layers"] = json.loads(layers_json.read_text())
        layers_json.unlink()
    result["wall_s"] = round(time.perf_counter() - started, 1)
    result["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    result["targets"] = targets(result)
    result["failed"] = [f for key in ("headline", "mix", "secondary") if result.get(key)
                        for f in failures_of(result[key])]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stamp}.json").write_text(common.dumps(result), encoding="utf-8")
    from .report import markdown

    (out / f"{stamp}.md").write_text(markdown(result), encoding="utf-8")
    print(markdown(result))
    log(f"written: {out / (stamp + '.json')} and .md ({result['wall_s']} s)")
    if result["failed"]:
        log("FAILED: " + "; ".join(result["failed"][:10]))
        return 1
    return 0


def _dirty() -> bool:
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                             text=True, timeout=10).stdout
    except Exception:
        return False
    return bool(out.strip())


if __name__ == "__main__":
    sys.exit(main())

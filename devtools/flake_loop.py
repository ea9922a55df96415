"""Run the in-flight fault and delivery tests N times in a row under `make test`, beside a parallel CPU load.

    python3 -m devtools.flake_loop                      # 10 runs, one busy process, the default tests
    python3 -m devtools.flake_loop --runs 3 --load 2    # 3 runs, two busy processes
    python3 -m devtools.flake_loop -- tests/faults/test_scale_out.py   # other tests

Each run is `make test PYTEST_ARGS="<tests> -q -p no:cacheprovider"` with this environment (so
`DATABASE_URL=postgres://...` picks the database). The load is `--load` processes running `while True: pass`
(each keeps one core busy), started here before the first run and stopped here after the last. The loop stops at
the first failing run; each run's output is kept in var/flake-loop/run-<n>.log. The tally printed at the end
(date, commit, load, load average, each run's time) is what docs/reliability.md records. Stop it with Ctrl-C
(SIGINT): pytest then stops its stacks, and the busy processes are stopped here.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from devtools.stack import process_group_stop

ROOT = Path(__file__).resolve().parent.parent

# The tests that must meet work in flight (docs/reliability.md, "Repeating the in-flight fault tests under load"):
# the daphne killed with live sockets, the worker killed mid-answer (the LLM stream it held redelivered), the Redis
# restart with queued work, the redelivered tasks awaited.
IN_FLIGHT_TESTS = (
    "tests/faults/test_scale_out.py::test_killing_a_daphne_that_holds_live_sockets_mid_stream_loses_nothing",
    "tests/faults/test_faults.py::test_worker_killed_mid_task_every_message_completes_exactly_once",
    "tests/faults/test_faults.py::test_redis_restart_mid_conversation_loses_no_event",
    "tests/conversations/test_delivery.py::test_a_task_run_twice_emits_nothing_twice",
)
BUSY_LOOP = "while True: pass"


def _commit() -> str:
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True,
                           text=True)
    return head.stdout.strip() + ("+uncommitted changes" if dirty.stdout.strip() else "")


def _loadavg() -> str:
    return "/".join(f"{value:.1f}" for value in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--load", type=int, default=1, help="busy processes beside the tests (each one core)")
    parser.add_argument("tests", nargs="*", help="pytest node ids (default: the in-flight fault tests)")
    args = parser.parse_args(argv)
    tests = args.tests or list(IN_FLIGHT_TESTS)
    pytest_args = " ".join([*map(shlex.quote, tests), "-q", "-p", "no:cacheprovider"])
    logs = ROOT / "var" / "flake-loop"
    logs.mkdir(parents=True, exist_ok=True)

    started = datetime.datetime.now(datetime.UTC)
    database = os.environ.get("DATABASE_URL", "sqlite (embedded default)")
    print(f"flake loop: {started:%Y-%m-%d %H:%M} UTC, commit {_commit()}, {args.runs} runs, "
          f"{args.load} busy process(es) ({BUSY_LOOP!r}), database {database}", flush=True)
    load = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP], start_new_session=True) for _ in range(args.load)]
    passed = 0
    durations: list[float] = []
    failed_log: Path | None = None
    try:
        for run in range(1, args.runs + 1):
            log = logs / f"run-{run}.log"
            before = _loadavg()
            t0 = time.monotonic()
            with open(log, "wb") as out:
                result = subprocess.run(["make", "test", f"PYTEST_ARGS={pytest_args}"], cwd=ROOT, stdout=out,
                                        stderr=subprocess.STDOUT)
            durations.append(time.monotonic() - t0)
            print(f"run {run}: {'passed' if result.returncode == 0 else 'FAILED'} in {durations[-1] / 60:.1f} min "
                  f"(load average before {before}, after {_loadavg()})", flush=True)
            if result.returncode != 0:
                failed_log = log
                break
            passed += 1
    finally:
        for process in load:
            process_group_stop(process, grace=2)
    finished = datetime.datetime.now(datetime.UTC)
    spread = f"{min(durations) / 60:.1f}–{max(durations) / 60:.1f} min per run" if durations else "no run"
    print(f"tally: {passed} of {args.runs} passed in a row ({started:%H:%M}–{finished:%H:%M} UTC, {spread})")
    if failed_log is not None:
        print(f"first failure: {failed_log}")
        print("\n".join(failed_log.read_text(errors="replace").splitlines()[-40:]))
    return 0 if passed == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())

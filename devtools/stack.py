"""Start the whole stack in the foreground, or run one command beside a Redis.

    python -m devtools.stack run            # Redis, migrate, load_shipped_data, daphne, Celery
    KCS_FAKE=1 python -m devtools.stack run # … and the fake KCS services, every KCS_* URL and key pointed at it
    python -m devtools.stack exec -- CMD... # CMD with REDIS_URL set (embedded unless given)

Every child runs in its own process group, so Ctrl-C or SIGTERM here stops each
group as a whole (Celery's prefork children included) and leaves nothing behind.
Each child also asks Linux for SIGTERM when this supervisor dies (PR_SET_PDEATHSIG), so
even a supervisor killed with SIGKILL takes daphne and the workers along (a Celery
worker stops its own pool processes on SIGTERM).

DEBUG is on for the children unless the operator set it: these are development
commands. Production (the image, compose) leaves it at its default, off.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from devtools.redis_server import die_with_parent, ensure_redis_url

ROOT = Path(__file__).resolve().parent.parent


def process_group_stop(process: subprocess.Popen, sig: int = signal.SIGTERM, grace: float = 10.0) -> None:
    """Stop a child started with start_new_session=True, and everything in its process group.

    `sig` first (SIGTERM: a warm shutdown), SIGKILL after `grace` seconds; then the group once
    more, because Celery's prefork children may outlive their parent by a moment.
    """
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


class _Stop(Exception):
    pass


def _raise_stop(signum, frame):
    raise _Stop


def worker_node_prefixes(port: int, node: str = "tradechat") -> tuple[str, str]:
    """The node names (up to the host) of the two workers that `worker_commands` starts."""
    return f"{node}-{port}@", f"{node}-io-{port}@"


def worker_commands(port: int, concurrency: int, *, node: str = "tradechat", loglevel: str = "INFO",
                    cpu_extra: Sequence[str] = ()) -> tuple[list[str], list[str]]:
    """The stack's two Celery workers: prefork processes for the CPU queues ("chat", "bulk") and a threads pool
    for "io" (tasks waiting on the network; config/task_routes.py)."""
    cpu_node, io_node = worker_node_prefixes(port, node)
    celery = [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel", loglevel]
    cpu = [*celery, "-Q", "chat,bulk", "-c", str(concurrency), "-n", f"{cpu_node}%h", *cpu_extra]
    io = [*celery, "-P", "threads", "-Q", "io", "-c", os.environ.get("CELERY_IO_CONCURRENCY") or "16",
          "-n", f"{io_node}%h"]
    return cpu, io


def kcs_fake_start(env: dict[str, str]) -> subprocess.Popen:
    """Start the fake KCS services (tests/fakes/kcs_server.py) on a free 127.0.0.1 port and point every KCS_* URL
    and key of `env` at it: a demo of requirements, statistics, exchange rates and API030 rows without keys."""
    fake = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.kcs_server", "--port", "0"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True, start_new_session=True, preexec_fn=die_with_parent,
    )
    ready = (fake.stdout.readline() if fake.stdout else "").split()
    keys = (fake.stdout.readline() if fake.stdout else "").split(" ", 1)
    if len(ready) != 2 or ready[0] != "READY" or len(keys) != 2 or keys[0] != "KEYS":
        process_group_stop(fake)
        raise RuntimeError("the fake KCS services did not start")
    url = ready[1]
    env.update(KCS_DATA_GO_KR_URL=f"{url}/1220000", KCS_UNIPASS_URL=url)
    names = {"ccct_gw": "KCS_CCCT_KEY", "api029": "KCS_API029_KEY", "nitemtrade": "KCS_NITEMTRADE_KEY",
             "fx_gw": "KCS_FX_KEY", "api030": "KCS_API030_KEY"}
    for service, key in json.loads(keys[1]).items():
        env[names[service]] = key
    print(f"  Fake KCS services (demo data, not real figures): {url}", flush=True)
    return fake


def development_env(**extra: str) -> dict[str, str]:
    """The environment of the development commands' children: DEBUG on unless the operator chose."""
    env = dict(os.environ, **extra)
    env.setdefault("DEBUG", "1")
    return env


def _child(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    """A child in its own process group that dies with this supervisor, however the supervisor dies."""
    return subprocess.Popen(args, cwd=ROOT, env=env, start_new_session=True, preexec_fn=die_with_parent)


def run(host: str, port: int, concurrency: int) -> int:
    redis_url, embedded = ensure_redis_url()
    env = development_env(REDIS_URL=redis_url, PYTHONUNBUFFERED="1")
    (ROOT / "var").mkdir(exist_ok=True)
    children: list[subprocess.Popen] = []
    fake: subprocess.Popen | None = None
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    try:
        if os.environ.get("KCS_FAKE", "").strip().lower() in ("1", "true", "yes"):
            fake = kcs_fake_start(env)
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, check=True)
        # The data the product ships (HSK table, …): loaded once, skipped when already loaded.
        subprocess.run([sys.executable, "manage.py", "load_shipped_data"], cwd=ROOT, env=env, check=True)
        children.append(
            _child([sys.executable, "-m", "daphne", "-b", host, "-p", str(port), "config.asgi:application"], env)
        )
        beat = ["-B", "--schedule", str(ROOT / "var" / "celerybeat-schedule")]
        for command in worker_commands(port, concurrency, cpu_extra=beat):
            children.append(_child(command, env))
        where = "embedded" if embedded else "external"
        print(f"\n  Trade chat: http://{host}:{port}/   (Redis {where}: {redis_url}; Ctrl-C stops everything)\n",
              flush=True)
        restarts: list[float] = []
        while True:
            for index, child in enumerate(children):
                if child.poll() is None:
                    continue
                # Like a restart policy: a process that dies is started again, unless it keeps dying.
                now = time.monotonic()
                restarts = [t for t in restarts if now - t < 60] + [now]
                if len(restarts) > 5:
                    print(f"{child.args[2]} keeps exiting ({child.returncode}); stopping the stack", file=sys.stderr)
                    return 1
                print(f"{child.args[2]} exited with {child.returncode}; starting it again", file=sys.stderr)
                children[index] = _child(list(child.args), env)
            time.sleep(0.5)
    except _Stop:
        print("\nStopping…", flush=True)
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for child in reversed(children):
            process_group_stop(child)
        if fake is not None:
            process_group_stop(fake)
        if embedded:
            embedded.cleanup()


def exec_with_redis(command: list[str]) -> int:
    redis_url, embedded = ensure_redis_url()
    signal.signal(signal.SIGTERM, _raise_stop)
    try:
        return subprocess.call(command, cwd=ROOT, env=development_env(REDIS_URL=redis_url))
    except _Stop:
        return 143
    finally:
        if embedded:
            embedded.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="devtools.stack")
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("run")
    run_parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    run_parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    run_parser.add_argument("--concurrency", type=int, default=int(os.environ.get("CELERY_WORKER_CONCURRENCY", "2")))
    exec_parser = sub.add_parser("exec")
    exec_parser.add_argument("cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.command == "run":
        return run(args.host, args.port, args.concurrency)
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    return exec_with_redis(cmd)


if __name__ == "__main__":
    sys.exit(main())

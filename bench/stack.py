"""A stack of the bench's own, shaped like `make run`, on a free port: daphne, a prefork Celery worker (-c 2) for
the "chat" and "bulk" queues and a threads worker for "io" (the network-bound tasks), on one Redis.

The only differences from `make run` (devtools.stack): daphne serves `bench.floor_asgi:application` (the app's
ASGI application plus the floor route) and the worker also imports `bench.floor_app` (-I); no beat (-B); a
fresh database of its own (var/bench/db.sqlite3 unless BENCH_DATABASE_URL), so runs start from the same state
and never touch var/db.sqlite3.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from devtools.redis_server import ensure_redis_url, free_port
from devtools.stack import process_group_stop, worker_commands

from .procs import StackProcesses, listener_pid

ROOT = Path(__file__).resolve().parent.parent


def _fresh_postgres(url: str) -> None:
    """Drop and create the database named in `url` (only a database whose name contains "bench")."""
    from urllib.parse import urlparse, urlunparse

    import psycopg

    name = urlparse(url).path.lstrip("/")
    if "bench" not in name:
        return  # never drop anything else; migrate brings it up to date
    admin = urlunparse(urlparse(url)._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def _fresh_database(url: str | None, work: Path) -> str:
    if url:
        if url.startswith(("postgres://", "postgresql://")):
            _fresh_postgres(url)
        return url
    path = work / "db.sqlite3"
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            Path(str(path) + suffix).unlink()
    return f"sqlite:///{path}"


class BenchStack:
    def __init__(self, *, concurrency: int = 2, port: int | None = None, env: dict[str, str] | None = None,
                 work: Path | None = None, log_level: str = "INFO"):
        self.work = work or ROOT / "var" / "bench"
        self.work.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.concurrency = concurrency
        self.log_level = log_level
        self.extra_env = env or {}
        self.redis_url, self._embedded = ensure_redis_url()
        self.database_url = _fresh_database(os.environ.get("BENCH_DATABASE_URL"), self.work)
        self.daphne: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None
        self.io_worker: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ, REDIS_URL=self.redis_url, DATABASE_URL=self.database_url, PYTHONUNBUFFERED="1",
                   DJANGO_SETTINGS_MODULE="config.settings")
        # Every bench client comes from 127.0.0.1: the abuse limits would measure themselves, not capacity.
        for name in ("CHAT_RATE_LIMIT_SESSION", "CHAT_RATE_LIMIT_IP", "CHAT_RATE_LIMIT_CONVERSATION_SESSION",
                     "CHAT_RATE_LIMIT_CONVERSATION_IP", "CHAT_RATE_LIMIT_REPLAY_SESSION", "CHAT_RATE_LIMIT_REPLAY_IP",
                     "CHAT_RATE_LIMIT_NEW_SESSION_IP", "CHAT_RATE_LIMIT_FEEDBACK_SESSION",
                     "CHAT_RATE_LIMIT_FEEDBACK_IP", "SSE_STREAMS_MAX_SESSION", "SSE_STREAMS_MAX_IP"):
            env.setdefault(name, "0")
        env.update(self.extra_env)
        return env

    def _popen(self, args: list[str], log: str) -> subprocess.Popen:
        handle = open(self.work / log, "wb")
        return subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=handle, stderr=subprocess.STDOUT,
                                start_new_session=True)

    def start(self) -> BenchStack:
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=self.env,
                       check=True)
        self.daphne = self._popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "bench.floor_asgi:application"],
            "daphne.log",
        )
        cpu, io = worker_commands(self.port, self.concurrency, node="bench", loglevel=self.log_level,
                                  cpu_extra=["-I", "bench.floor_app"])
        self.worker = self._popen(cpu, "worker.log")
        self.io_worker = self._popen(io, "worker-io.log")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for process, name in ((self.daphne, "daphne"), (self.worker, "worker"), (self.io_worker, "worker-io")):
                if process.poll() is not None:
                    tail = (self.work / f"{name}.log").read_text(errors="replace")[-3000:]
                    self.stop()
                    raise RuntimeError(f"{name} exited with {process.returncode}:\n{tail}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                if all(b"ready." in (self.work / log).read_bytes() for log in ("worker.log", "worker-io.log")):
                    return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("the bench stack did not start within 60 s (see var/bench/*.log)")

    def processes(self) -> StackProcesses:
        roles = {"daphne": [self.daphne.pid], "worker": [self.worker.pid, self.io_worker.pid]}
        port = int(self.redis_url.rsplit(":", 1)[1].split("/")[0])
        redis = listener_pid(port)
        if redis:
            roles["redis"] = [redis]
        return StackProcesses(roles)

    def stop(self) -> None:
        for process in (self.worker, self.io_worker, self.daphne):
            if process is not None:
                process_group_stop(process)
        if self._embedded:
            self._embedded.cleanup()
            self._embedded = None

    def __enter__(self) -> BenchStack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

"""A stack of the bench's own, shaped like `make run`, on a free port: daphne, a prefork Celery worker (-c 2) for
the "chat" and "bulk" queues and a threads worker for "io" (the network-bound tasks), on one Redis.

Like `make run` it migrates and runs `manage.py load_shipped_data` (the HSK table and the case corpora the
classifier uses) before daphne and the workers start. It differs from `make run` in these places only:

* daphne serves `bench.floor_asgi:application` (the app's ASGI application plus the floor route and the delivery
  tap) and the worker also imports `bench.floor_app` (-I); no beat (-B);
* production settings (DEBUG=0, a random SECRET_KEY, collected static files, an operator METRICS_TOKEN), except
  that plain HTTP is allowed on 127.0.0.1 (no SSL redirect, no Secure cookies) and the abuse limits are off (every
  bench client comes from 127.0.0.1); BENCH_DEBUG=1 keeps DEBUG on as `make run` does;
* a database of its own, created fresh (database_choose below), so runs start from the same state and never touch
  var/db.sqlite3 or anyone else's database.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

from devtools.redis_server import ensure_redis_url, free_port
from devtools.stack import process_group_stop, worker_commands

from .procs import StackProcesses, listener_pid

ROOT = Path(__file__).resolve().parent.parent
PG_DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432"


def _admin_url(url: str) -> str:
    return urlunparse(urlparse(url)._replace(path="/postgres"))


def postgres_reachable(server_url: str = PG_DEFAULT_SERVER, timeout: float = 2.0) -> bool:
    try:
        import psycopg

        with psycopg.connect(_admin_url(server_url), connect_timeout=timeout) as conn:
            conn.execute("SELECT 1")
        return True
    except Exception:
        return False


def private_database_name(tag: str = "") -> str:
    """A name no other engineer's run uses: the checkout's folder and the process id, with "bench" in it."""
    folder = re.sub(r"[^a-z0-9]+", "_", ROOT.name.lower()).strip("_")[:20] or "tree"
    user = re.sub(r"[^a-z0-9]+", "_", getpass.getuser().lower())[:10]
    return f"tradechat_bench_{user}_{folder}_{os.getpid()}{('_' + tag) if tag else ''}"


def database_choose() -> tuple[str | None, str]:
    """(DATABASE_URL or None for embedded SQLite, a note saying why).

    BENCH_DATABASE_URL wins ("sqlite" forces SQLite). Otherwise a private database on the machine's PostgreSQL
    (127.0.0.1:5432, user postgres, or BENCH_POSTGRES_SERVER) when it answers, else embedded SQLite."""
    chosen = os.environ.get("BENCH_DATABASE_URL", "").strip()
    if chosen.lower() == "sqlite":
        return None, "SQLite (BENCH_DATABASE_URL=sqlite)"
    if chosen:
        return chosen, "BENCH_DATABASE_URL"
    server = os.environ.get("BENCH_POSTGRES_SERVER", PG_DEFAULT_SERVER).rstrip("/")
    if postgres_reachable(server):
        return f"{server}/{private_database_name()}", f"private database on the PostgreSQL at {urlparse(server).netloc}"
    return None, (f"SQLite: no PostgreSQL answered at {urlparse(server).netloc}; the headline should be run on "
                  "PostgreSQL (set BENCH_DATABASE_URL)")


def _fresh_postgres(url: str) -> bool:
    """Drop and create the database named in `url` (only a database whose name contains "bench")."""
    import psycopg

    name = urlparse(url).path.lstrip("/")
    if "bench" not in name:
        return False  # never drop anything else; migrate brings it up to date
    with psycopg.connect(_admin_url(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return True


def postgres_drop(url: str) -> None:
    import psycopg

    name = urlparse(url).path.lstrip("/")
    if "bench" not in name:
        return
    with contextlib.suppress(Exception), psycopg.connect(_admin_url(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _fresh_sqlite(work: Path) -> str:
    path = work / "db.sqlite3"
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            Path(str(path) + suffix).unlink()
    return f"sqlite:///{path}"


def redis_url_with_db(url: str, db: int) -> str:
    parsed = urlparse(url)
    return urlunparse(parsed._replace(path=f"/{db}"))


class BenchStack:
    def __init__(self, *, database_url: str | None = None, concurrency: int = 2, port: int | None = None,
                 env: dict[str, str] | None = None, work: Path | None = None, log_level: str = "INFO",
                 redis_db: int | None = None, fresh: bool = True, name: str = "stack"):
        self.name = name
        self.work = work or ROOT / "var" / "bench"
        self.work.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.concurrency = concurrency
        self.log_level = log_level
        self.extra_env = env or {}
        redis_url, self._embedded = ensure_redis_url()
        self.redis_url = redis_url_with_db(redis_url, redis_db) if redis_db is not None else redis_url
        self.fresh = fresh
        self._created_database = False
        if database_url and database_url.startswith(("postgres://", "postgresql://")):
            if fresh:
                self._created_database = _fresh_postgres(database_url)
            self.database_url = database_url
        elif database_url:
            self.database_url = database_url
        else:
            self.database_url = _fresh_sqlite(self.work) if fresh else f"sqlite:///{self.work / 'db.sqlite3'}"
        self.secret_key = secrets.token_urlsafe(50)
        self.metrics_token = secrets.token_urlsafe(24)
        self.daphne: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None
        self.io_worker: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database_kind(self) -> str:
        return "postgresql" if self.database_url.startswith(("postgres://", "postgresql://")) else "sqlite"

    @property
    def debug(self) -> bool:
        return os.environ.get("BENCH_DEBUG", "").strip().lower() in ("1", "true", "yes")

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ, REDIS_URL=self.redis_url, DATABASE_URL=self.database_url, PYTHONUNBUFFERED="1",
                   DJANGO_SETTINGS_MODULE="config.settings")
        env.pop("BENCH_DATABASE_URL", None)
        if self.debug:
            env["DEBUG"] = "1"
        else:
            # Production settings (DEBUG off), over plain HTTP on loopback.
            env.update(DEBUG="0", SECRET_KEY=self.secret_key, STATIC_ROOT=str(self.work / "staticfiles"),
                       SECURE_SSL_REDIRECT="0", SESSION_COOKIE_SECURE="0", CSRF_COOKIE_SECURE="0",
                       SECURE_HSTS_SECONDS="0", ALLOWED_HOSTS="127.0.0.1,localhost")
        env["METRICS_TOKEN"] = self.metrics_token
        # Every bench client comes from 127.0.0.1: the abuse limits would measure themselves, not capacity.
        for name in ("CHAT_RATE_LIMIT_SESSION", "CHAT_RATE_LIMIT_IP", "CHAT_RATE_LIMIT_CONVERSATION_SESSION",
                     "CHAT_RATE_LIMIT_CONVERSATION_IP", "CHAT_RATE_LIMIT_REPLAY_SESSION", "CHAT_RATE_LIMIT_REPLAY_IP",
                     "CHAT_RATE_LIMIT_NEW_SESSION_IP", "CHAT_RATE_LIMIT_FEEDBACK_SESSION",
                     "CHAT_RATE_LIMIT_FEEDBACK_IP", "SSE_STREAMS_MAX_SESSION", "SSE_STREAMS_MAX_IP"):
            env[name] = "0"
        env.update(self.extra_env)
        return env

    def _popen(self, args: list[str], log: str) -> subprocess.Popen:
        handle = open(self.work / log, "wb")
        return subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=handle, stderr=subprocess.STDOUT,
                                start_new_session=True)

    def _manage(self, *args: str) -> None:
        result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True,
                                text=True)
        if result.returncode:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")

    def start(self) -> BenchStack:
        self._manage("migrate", "--noinput", "-v", "0")
        self._manage("load_shipped_data")  # as make run: the HSK table and case corpora the classifier uses
        if not self.debug:
            self._manage("collectstatic", "--noinput", "-v", "0")
        self.daphne = self._popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "bench.floor_asgi:application"],
            f"{self.name}-daphne.log",
        )
        cpu, io = worker_commands(self.port, self.concurrency, node="bench", loglevel=self.log_level,
                                  cpu_extra=["-I", "bench.floor_app"])
        self.worker = self._popen(cpu, f"{self.name}-worker.log")
        self.io_worker = self._popen(io, f"{self.name}-worker-io.log")
        deadline = time.monotonic() + 120
        logs = (f"{self.name}-worker.log", f"{self.name}-worker-io.log")
        while time.monotonic() < deadline:
            for process, log in ((self.daphne, f"{self.name}-daphne.log"), (self.worker, logs[0]),
                                 (self.io_worker, logs[1])):
                if process.poll() is not None:
                    tail = (self.work / log).read_text(errors="replace")[-3000:]
                    self.stop()
                    raise RuntimeError(f"{log} ended with {process.returncode}:\n{tail}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                if all(b"ready." in (self.work / log).read_bytes() for log in logs):
                    return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the bench stack did not start within 120 s (see {self.work}/{self.name}-*.log)")

    def data_editions_bump(self) -> None:
        """Reload the shipped HSK table with --force: its data edition changes, so every per-code cache entry
        becomes unreachable, as after any real import (bench.cache_mix starts each round cold this way)."""
        self._manage("import_hsk", str(ROOT / "data" / "kcs" / "hsk_2025_kcs.csv"), "--force", "--no-progress")

    def processes(self) -> StackProcesses:
        roles = {"daphne": [self.daphne.pid], "worker": [self.worker.pid], "worker_io": [self.io_worker.pid]}
        port = int(urlparse(self.redis_url).port or 6379)
        redis = listener_pid(port)
        if redis:
            roles["redis"] = [redis]
        return StackProcesses(roles)

    def stop(self, drop: bool = True) -> None:
        for process in (self.worker, self.io_worker, self.daphne):
            if process is not None:
                process_group_stop(process)
        if drop and self._created_database and "bench" in self.database_url:
            postgres_drop(self.database_url)
            self._created_database = False
        if self._embedded:
            self._embedded.cleanup()
            self._embedded = None

    def __enter__(self) -> BenchStack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

"""A live stack for tests: daphne and a Celery worker as real processes on the test database.

Clients talk to it over real sockets: httpx for HTTP, `websockets` for WebSockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote

import httpx
import websockets
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from devtools.redis_server import free_port
from devtools.stack import process_group_stop

ROOT = Path(__file__).resolve().parents[2]


def database_url(settings_dict: dict) -> str:
    """The URL of the database the test run created, for child processes."""
    engine = settings_dict["ENGINE"]
    if engine.endswith("sqlite3"):
        return f"sqlite:///{settings_dict['NAME']}"
    if engine.endswith("postgresql"):
        user = quote(settings_dict.get("USER") or "")
        password = quote(settings_dict.get("PASSWORD") or "")
        auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        host = settings_dict.get("HOST") or "127.0.0.1"
        port = settings_dict.get("PORT") or 5432
        return f"postgres://{auth}{host}:{port}/{settings_dict['NAME']}"
    raise RuntimeError(f"no URL form for {engine}")


class LiveStack:
    def __init__(self, env: dict[str, str], log_dir: Path):
        self.env = env
        self.log_dir = log_dir
        self.daphnes: list[tuple[int, subprocess.Popen]] = []
        self.workers: list[subprocess.Popen] = []

    @property
    def port(self) -> int:
        return self.daphnes[0][0]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _popen(self, args: list[str], log_name: str) -> subprocess.Popen:
        log = open(self.log_dir / log_name, "ab")
        return subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)

    def start_daphne(self, port: int | None = None) -> int:
        port = port or free_port()
        process = self._popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
            f"daphne-{port}.log",
        )
        deadline = time.monotonic() + 120  # generous: a loaded machine starts Django slowly
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"daphne exited: {(self.log_dir / f'daphne-{port}.log').read_text()[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("daphne did not listen in time")
        self.daphnes.append((port, process))
        return port

    def start_worker(self, name: str | None = None, concurrency: int = 2, beat: bool = False,
                     queues: str = "chat,bulk,io", pool: str = "prefork") -> subprocess.Popen:
        name = name or f"w{len(self.workers)}"
        extra = ["-B", "--schedule", str(self.log_dir / f"beat-{name}")] if beat else []
        process = self._popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queues, "-P", pool, "-c", str(concurrency),
             "-n", f"{name}@%h", "--loglevel", "INFO", "--without-gossip", "--without-mingle", *extra],
            f"celery-{name}.log",
        )
        self.workers.append(process)
        self.wait_for_workers(len(self.workers))
        return process

    @property
    def celery(self):
        """A Celery client on this stack's broker (for pings and for enqueueing tasks by name)."""
        if getattr(self, "_celery", None) is None:
            from celery import Celery

            # Not the current app: shared tasks that the tests enqueue in-process must keep the project's broker.
            self._celery = Celery(broker=self.env.get("CELERY_BROKER_URL") or self.env["REDIS_URL"],
                                  set_as_current=False)
            self._celery.conf.task_default_queue = "chat"
        return self._celery

    def wait_for_workers(self, count: int, timeout: float = 240) -> None:
        # Generous: a worker answers once it has built the classifier's indexes, a minute or more on a loaded machine.
        app = self.celery
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                replies = app.control.ping(timeout=0.5) or []
            except (OSError, RedisError, OperationalError):  # the broker restarted under this client: reconnect
                self._celery.close()
                self._celery = None
                app = self.celery
                time.sleep(0.2)
                continue
            if len(replies) >= count:
                return
            for worker in self.workers:
                if worker.poll() is not None:
                    raise RuntimeError("a Celery worker exited while starting")
        raise RuntimeError("Celery workers did not answer in time")

    def wait_until_tasks_done(self, queues: Iterable[str] = ("chat", "bulk", "io"), timeout: float = 180) -> None:
        """Until the broker holds no task of this stack: every queue empty and nothing delivered but unacknowledged
        (tasks ack late, so a task leaves kombu's `unacked` hash only when it has finished)."""
        import redis

        broker = redis.Redis.from_url(self.env.get("CELERY_BROKER_URL") or self.env["REDIS_URL"])
        deadline = time.monotonic() + timeout
        try:
            while any(broker.llen(queue) for queue in queues) or broker.hlen("unacked"):
                if time.monotonic() > deadline:
                    raise AssertionError(f"tasks still queued or running after {timeout} s")
                time.sleep(0.1)
        finally:
            broker.close()

    def wait_until_tasks_finished(self, task_ids: Iterable[str], timeout: float = 180) -> None:
        """Until a worker log of this stack reports each task id finished (Celery's INFO line `Task name[id]
        succeeded`, or `raised`/`failed`): the task ran to its end, whatever the broker shows."""
        wanted = set(task_ids)
        finished = re.compile(r"Task [\w.]+\[([0-9a-f-]+)\] (?:succeeded|raised|failed)")
        deadline = time.monotonic() + timeout
        while True:
            seen = {task_id for log in self.log_dir.glob("celery-*.log")
                    for task_id in finished.findall(log.read_text(errors="replace"))}
            if wanted <= seen:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"tasks not finished after {timeout} s: {sorted(wanted - seen)}")
            time.sleep(0.2)

    def stop_daphne(self, port: int, sig: int = signal.SIGTERM) -> None:
        for i, (p, process) in enumerate(self.daphnes):
            if p == port:
                process_group_stop(process, sig)
                del self.daphnes[i]
                return

    def stop_worker(self, process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
        process_group_stop(process, sig)
        self.workers.remove(process)

    def supervise_workers(self, interval: float = 0.5) -> None:
        """Restart any worker that exits, as the production restart policy does (docker-compose
        `restart: unless-stopped`): kombu can crash a worker whose broker vanished with tasks unacked
        (AttributeError in restore_unacked on close, an upstream defect)."""
        import threading

        self._supervising = True

        def watch() -> None:
            while self._supervising:
                for index, process in enumerate(list(self.workers)):
                    if process.poll() is not None and self._supervising:
                        self.restarts = getattr(self, "restarts", 0) + 1
                        self.workers[index] = self._popen(list(process.args), f"celery-restart-{self.restarts}.log")
                time.sleep(interval)

        threading.Thread(target=watch, name="worker-supervisor", daemon=True).start()

    def stop(self) -> None:
        self._supervising = False
        if getattr(self, "_celery", None) is not None:
            self._celery.close()
        for _, process in self.daphnes:
            process_group_stop(process)
        for process in self.workers:
            process_group_stop(process)
        self.daphnes.clear()
        self.workers.clear()


class ChatClient:
    """One browser-like person: a session cookie, a CSRF token and their own conversations.

    behind_tls=True: as a browser on https:// behind a TLS-terminating balancer that forwards plain HTTP to
    `base_url` with X-Forwarded-Proto: https. The balancer passes the Secure cookies on, so they are sent here
    although the hop itself is plain HTTP, and the socket's Origin is the https one.
    """

    def __init__(self, base_url: str, *, behind_tls: bool = False):
        self.base_url = base_url
        self.behind_tls = behind_tls
        # A browser sends its Origin with unsafe requests; over HTTPS Django's CSRF check requires it (or a Referer).
        headers = {"X-Forwarded-Proto": "https", "Origin": base_url.replace("http://", "https://", 1)} \
            if behind_tls else {}
        hooks = {"request": [self._send_every_cookie]} if behind_tls else {}
        self.http = httpx.Client(base_url=base_url, timeout=30, headers=headers, event_hooks=hooks)
        self.http.get("/").raise_for_status()

    def _send_every_cookie(self, request: httpx.Request) -> None:
        if self.http.cookies:
            request.headers["Cookie"] = self.cookie_header

    @property
    def origin(self) -> str:
        return self.base_url.replace("http://", "https://", 1) if self.behind_tls else self.base_url

    @property
    def cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.http.cookies.items())

    def post(self, path: str, payload: dict | None = None) -> httpx.Response:
        return self.http.post(path, json=payload or {}, headers={"X-CSRFToken": self.http.cookies.get("csrftoken", "")})

    def conversation_create(self) -> str:
        response = self.post("/api/conversations/")
        response.raise_for_status()
        return response.json()["id"]

    def messages(self, conversation_id: str) -> list[dict]:
        response = self.http.get(f"/api/conversations/{conversation_id}/messages/")
        response.raise_for_status()
        return response.json()["results"]

    def ws_url(self, conversation_id: str, query: str = "") -> str:
        return self.base_url.replace("http", "ws", 1) + f"/ws/chat/{conversation_id}/" + (f"?{query}" if query else "")

    def connect(self, conversation_id: str, query: str = "", origin: str | None = None):
        headers = {"Cookie": self.cookie_header, "Origin": origin or self.origin}
        if self.behind_tls:
            headers["X-Forwarded-Proto"] = "https"
        return websockets.connect(
            self.ws_url(conversation_id, query),
            additional_headers=headers,
            max_size=2**22,
            open_timeout=30,
        )

    def close(self) -> None:
        self.http.close()


async def frames_until(ws, stop_events: Iterable[str], timeout: float = 30.0, count: int = 1) -> list[dict]:
    """Read frames until `count` frames whose event is in stop_events arrived (or time runs out)."""
    stop_events = set(stop_events)
    frames: list[dict] = []
    seen = 0
    async with asyncio.timeout(timeout):
        while seen < count:
            frame = json.loads(await ws.recv())
            frames.append(frame)
            if frame.get("event") in stop_events:
                seen += 1
    return frames

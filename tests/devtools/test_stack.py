"""`make run`'s launcher: the whole stack starts, serves, and leaves no process behind when stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from devtools.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


def _processes_mentioning(text: str) -> list[str]:
    # "--": a pattern such as "-p 8000" is not an option (without it pgrep fails and finds nothing).
    found = subprocess.run(["pgrep", "-af", "--", text], capture_output=True, text=True).stdout.splitlines()
    return [line for line in found if "pgrep" not in line]


def _processes_gone(text: str, timeout: float = 30.0) -> list[str]:
    """Wait (by state, not a fixed sleep) for every process mentioning `text` to exit; the ones left, if any."""
    deadline = time.monotonic() + timeout
    while (left := _processes_mentioning(text)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def _start_run(tmp_path) -> tuple[subprocess.Popen, int]:
    """`make run`'s supervisor with DEBUG left to it (as a developer runs it), once /healthz answers 200."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL", "DEBUG")}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'run.sqlite3'}", PORT=str(port), CELERY_WORKER_CONCURRENCY="1")
    stack = subprocess.Popen([sys.executable, "-m", "devtools.stack", "run"], cwd=ROOT, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    # First start: migrate, load the shipped HSK table and 35,000 cases, then start; a loaded CI machine is slow.
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return stack, port
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    stack.kill()
    pytest.fail("the stack did not become healthy")


def _stack_processes_gone(port: int, timeout: float = 60.0) -> list[str]:
    return (_processes_gone(f"-p {port}", timeout)  # daphne
            + _processes_gone(f"tradechat-{port}@", timeout)  # the Celery worker and its pool
            + _processes_gone(f"tradechat-io-{port}@", timeout))  # the io (threads) worker


def test_run_serves_the_page_with_the_shipped_data_and_ctrl_c_leaves_no_process_behind(tmp_path):
    stack, port = _start_run(tmp_path)
    try:
        page = httpx.get(f"http://127.0.0.1:{port}/")
        assert "보내기" in page.text
        assert "Traceback" not in page.text
        # The shipped 관세청 HSK table is loaded on first start, without any manual step.
        assert "스마트폰" in httpx.get(f"http://127.0.0.1:{port}/detail/hscode/8517.13/").text
        assert "삼겹살" in httpx.get(f"http://127.0.0.1:{port}/detail/hscode/0203.29/").text
        stack.send_signal(signal.SIGINT)  # what Ctrl-C sends
        stack.wait(timeout=60)
    finally:
        if stack.poll() is None:
            stack.kill()
    assert _stack_processes_gone(port) == []


def test_supervisor_killed_with_sigkill_leaves_no_process(tmp_path):
    stack, port = _start_run(tmp_path)
    assert _processes_mentioning(f"-p {port}") and _processes_mentioning(f"tradechat-{port}@")  # running
    # /healthz may answer through the io worker while the CPU worker still builds the classifier's indexes before
    # forking its pool; killed then, it stops only when that build ends. Wait until its pool child exists.
    deadline = time.monotonic() + 120
    while len(_processes_mentioning(f"tradechat-{port}@")) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    stack.kill()  # SIGKILL: no handler of the supervisor runs
    stack.wait(timeout=10)
    assert _stack_processes_gone(port) == []


def test_embedded_redis_goes_with_a_parent_killed_outright():
    code = ("from devtools.redis_server import EmbeddedRedis; r = EmbeddedRedis().start(); "
            "print(r.port, flush=True); import time; time.sleep(60)")
    parent = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    port = parent.stdout.readline().strip()
    assert _processes_mentioning(f"redis-server 127.0.0.1:{port}")
    parent.kill()
    parent.wait()
    assert _processes_gone(f"redis-server 127.0.0.1:{port}") == []

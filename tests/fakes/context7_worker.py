"""A long-lived worker process for multi-process tests of the shared circuit breaker.

    python -m tests.fakes.context7_worker --base-url URL --redis-url URL --prefix P [--fail-max 5 ...]

Prints `READY <pid>`, then reads one JSON command per stdin line and answers one JSON line:

    {"op": "docs", "library_id": "/x/y", "query": "..."}  -> {"ok": true, "snippets": n}
                                                            | {"ok": false, "code": "...", "calls": n}
    {"op": "status"}                                       -> {"state": ..., "failures": n, ...}
    {"op": "quit"}                                         -> exits

The breaker listener logs state changes to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import pathlib
import subprocess
import sys
from typing import Any

from context7_client import (
    BreakerConfig,
    CacheConfig,
    Context7Client,
    Context7Config,
    Context7Error,
    RetryConfig,
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--fail-max", type=int, default=5)
    parser.add_argument("--reset-timeout", type=float, default=30.0)
    parser.add_argument("--attempts", type=int, default=1)
    parser.add_argument("--budget", type=float, default=2.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format=f"[{os.getpid()}] %(name)s %(message)s")
    config = Context7Config(
        base_url=args.base_url,
        redis_url=args.redis_url,
        redis_prefix=args.prefix,
        budget_s=args.budget,
        retry=RetryConfig(attempts=args.attempts),
        breaker=BreakerConfig(fail_max=args.fail_max, reset_timeout_s=args.reset_timeout),
        cache=CacheConfig(enabled=False),
    )
    with Context7Client(config) as client:
        print(f"READY {os.getpid()}", flush=True)
        for line in sys.stdin:
            command = json.loads(line)
            if command["op"] == "quit":
                break
            if command["op"] == "status":
                answer = client.breaker_status().to_dict()
            else:
                try:
                    docs = client.get_library_docs(command["library_id"], command["query"])
                    answer = {"ok": True, "snippets": len(docs.snippets)}
                except Context7Error as error:
                    answer = {"ok": False, "code": error.code, "calls": len(error.calls)}
            print(json.dumps(answer), flush=True)


class WorkerProcess:
    """Runs this module as a separate OS process and talks to it line by line."""

    def __init__(self, base_url: str, redis_url: str, prefix: str, **options: Any) -> None:
        args = [
            sys.executable,
            "-m",
            "tests.fakes.context7_worker",
            "--base-url",
            base_url,
            "--redis-url",
            redis_url,
            "--prefix",
            prefix,
        ]
        for name, value in options.items():
            args += [f"--{name.replace('_', '-')}", str(value)]
        root = pathlib.Path(__file__).resolve().parents[2]
        self.proc = subprocess.Popen(
            args, cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.stderr = ""
        assert self.proc.stdout is not None
        ready = self.proc.stdout.readline()
        if not ready.startswith("READY "):
            raise RuntimeError(f"worker did not start: {ready!r} {self.stop()}")
        self.pid = int(ready.split()[1])

    def send(self, **command: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def docs(self, library_id: str = "/wco/hs-nomenclature-2022", query: str = "smartphone") -> dict[str, Any]:
        return self.send(op="docs", library_id=library_id, query=query)

    def status(self) -> dict[str, Any]:
        return self.send(op="status")

    def stop(self) -> str:
        """Stop the worker; returns what it logged on stderr."""
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
                self.proc.stdin.flush()
            except OSError:
                pass
        try:
            _, self.stderr = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, self.stderr = self.proc.communicate(timeout=10)
        return self.stderr


if __name__ == "__main__":
    main()

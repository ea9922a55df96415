"""PostgreSQL's own CPU for the bench's database: the backends that serve its connections, read from /proc.

Method: a thread asks `pg_stat_activity` every `interval` seconds for the pids of the backends connected to the
bench's database (its own sampling connection excluded) and reads each one's utime + stime from
/proc/<pid>/stat. The CPU of a profile is the sum over every backend seen of (last reading − reading at the start;
0 for a backend born during the profile). A backend that exits between two readings loses at most `interval`
seconds of its CPU (counted in `backends_exited`). The pipeline's connections live on (the workers and the
consumers' database thread keep theirs, DATABASE_CONN_MAX_AGE); the short-lived backends are those of plain HTTP
requests (Django under ASGI runs each request's database work in a thread of its own, so its connection dies with
the request): the bench's own session set-up and its REST reads of task C, which are not message work.
Not counted: the server's shared processes (checkpointer, WAL writer, autovacuum), which serve every database on
the machine. Works when PostgreSQL runs on this machine and /proc/<pid>/stat is readable (it is for every user);
otherwise `available` is false and the reason is given.
"""

from __future__ import annotations

import os
import threading
from urllib.parse import urlparse

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _proc_cpu_ms(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
    except OSError:
        return None
    # fields[0] is the state (field 3); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) * 1000 / CLOCK_TICKS


class PostgresCpu:
    def __init__(self, database_url: str, interval: float = 0.5):
        self.database_url = database_url
        self.database = urlparse(database_url).path.lstrip("/")
        self.interval = interval
        self.latest: dict[int, float] = {}
        self.gone: set[int] = set()
        self.unreadable: set[int] = set()  # backends whose /proc entry could not be read (not on this machine?)
        self.available = True
        self.reason = ""
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> PostgresCpu:
        host = urlparse(self.database_url).hostname or "localhost"
        if host not in ("127.0.0.1", "localhost", "::1"):
            self.available, self.reason = False, f"PostgreSQL at {host} is not on this machine"
            return self
        try:
            import psycopg

            self._conn = psycopg.connect(self.database_url, autocommit=True)
        except Exception as error:
            self.available, self.reason = False, f"cannot connect: {error}"
            return self
        self._sample()
        self._thread = threading.Thread(target=self._run, name="pg-cpu", daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        rows = self._conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [self.database]
        ).fetchall()
        with self._lock:
            for (pid,) in rows:
                cpu = _proc_cpu_ms(pid)
                if cpu is not None:
                    self.latest[pid] = cpu
                elif pid not in self.latest:
                    self.unreadable.add(pid)
            alive = {pid for (pid,) in rows}
            self.gone |= set(self.latest) - alive

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._sample()
            except Exception as error:
                self.reason = f"sampling stopped: {error}"
                return

    def snapshot(self) -> dict[int, float]:
        if not self.available:
            return {}
        try:
            self._sample()
        except Exception:
            pass
        with self._lock:
            return dict(self.latest)

    @staticmethod
    def delta_ms(before: dict[int, float], after: dict[int, float]) -> float:
        return sum(max(0.0, cpu - before.get(pid, 0.0)) for pid, cpu in after.items())

    def describe(self) -> dict:
        return {"available": self.available, "reason": self.reason, "database": self.database,
                "backends_seen": len(self.latest), "backends_exited": len(self.gone),
                "backends_unreadable": len(self.unreadable),
                "method": "utime+stime from /proc/<pid>/stat of the pg_stat_activity backends of the bench's "
                          f"database, sampled every {self.interval} s"}

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        conn = getattr(self, "_conn", None)
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass


"""The server's own processes (daphne, Celery worker + pool children, redis-server) and their CPU and memory.

Found by what they listen on (daphne: the HTTP port; redis: the Redis port) and by command line (the Celery
worker of this project), so the same code measures a stack started by bench.run, `make run` or compose
(when the processes are visible from here).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import psutil


def listener_pid(port: int) -> int | None:
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
            return conn.pid
    return None


def _is_celery_worker(proc: psutil.Process) -> bool:
    try:
        cmd = proc.cmdline()
    except (psutil.Error, OSError):
        return False
    return "celery" in " ".join(cmd[:3]) and "worker" in cmd and "config" in cmd


def worker_pids(hint: str | tuple[str, ...] | None = None, cwd: str | None = None) -> list[int]:
    """Main processes of Celery workers of this project (`celery -A config worker`), optionally named `hint`
    (a node-name prefix, or several)."""
    hints = (hint,) if isinstance(hint, str) else hint
    found = []
    for proc in psutil.process_iter(["pid", "ppid"]):
        if not _is_celery_worker(proc):
            continue
        try:
            parent = proc.parent()
            if parent is not None and _is_celery_worker(parent):
                continue  # a pool child: counted with its parent
            if hints and not any(h in part for h in hints for part in proc.cmdline()):
                continue
            if cwd and proc.cwd() != cwd:
                continue
        except (psutil.Error, OSError):
            continue
        found.append(proc.pid)
    return found


@dataclass
class StackProcesses:
    """pids per role; a role's CPU includes every descendant (the prefork pool children)."""

    roles: dict[str, list[int]] = field(default_factory=dict)

    def _procs(self, role: str) -> list[psutil.Process]:
        out = []
        for pid in self.roles.get(role, []):
            try:
                proc = psutil.Process(pid)
            except psutil.Error:
                continue
            out.append(proc)
            try:
                out.extend(proc.children(recursive=True))
            except psutil.Error:
                pass
        return out

    def cpu_ms(self) -> dict[str, float]:
        """CPU (user + system) each role has used so far, in ms."""
        totals = {}
        for role in self.roles:
            total = 0.0
            for proc in self._procs(role):
                try:
                    t = proc.cpu_times()
                except psutil.Error:
                    continue
                total += (t.user + t.system) * 1000
            totals[role] = total
        return totals

    def rss_mb(self) -> dict[str, float]:
        out = {}
        for role in self.roles:
            total = 0
            for proc in self._procs(role):
                try:
                    total += proc.memory_info().rss
                except psutil.Error:
                    continue
            out[role] = total / 2**20
        return out

    def describe(self) -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = {}
        for role in self.roles:
            out[role] = []
            for proc in self._procs(role):
                try:
                    out[role].append({"pid": proc.pid, "cmd": " ".join(proc.cmdline())[:160]})
                except psutil.Error:
                    continue
        return out


def self_cpu_ms() -> float:
    t = os.times()
    return (t.user + t.system) * 1000


def find_stack(http_port: int, redis_port: int | None,
               worker_hint: str | tuple[str, ...] | None = None) -> StackProcesses:
    roles: dict[str, list[int]] = {}
    daphne = listener_pid(http_port)
    if daphne:
        roles["daphne"] = [daphne]
    workers = worker_pids(worker_hint)
    if workers:
        roles["worker"] = workers
    if redis_port:
        redis = listener_pid(redis_port)
        if redis:
            roles["redis"] = [redis]
    return StackProcesses(roles)


def open_files_limit(pid: int) -> tuple[int | None, int | None]:
    try:
        soft, hard = psutil.Process(pid).rlimit(psutil.RLIMIT_NOFILE)
        return soft, hard
    except (psutil.Error, AttributeError):
        return None, None

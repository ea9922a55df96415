"""The production stack of docker-compose.yml, run on this machine without Docker.

What is taken from the project's own files, unchanged:
- every service's command and environment, as `docker-compose config` resolves them (DEBUG=0 included);
- deploy/nginx.conf, run by Debian's nginx;
- the healthcheck command of every long-running service (web, web2, worker, worker-io, worker-bulk, beat, gateway,
  postgres, redis).
What is rendered for one machine (there is no container network here):
- the services' host names and ports: `web:8000`/`web2:8000` become two loopback ports, nginx listens on a
  free loopback port instead of 80, and the port in each healthcheck and daphne command follows;
- DATABASE_URL and REDIS_URL point at the test run's database and a Redis database of its own; the machine's
  PostgreSQL and that Redis stand in for the postgres and redis services, so their healthchecks (`pg_isready`,
  `redis-cli ping`) are given that server's address: libpq's PGHOST/PGPORT for the first, `-u URL` for the second;
- beat's `--schedule /tmp/celerybeat-schedule` becomes a file in the temporary folder (/tmp is shared here);
- the nginx.conf `server {}` is wrapped in a main configuration with paths under a temporary folder;
- programs (`daphne`, `celery`, `python`) are the virtualenv's.
beat is started on demand (`service_start("beat")`) and stopped after: its recovery sweeper would otherwise sweep
the whole test database, shared with the tests that run after this stack started.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from devtools.redis_server import free_port
from devtools.stack import process_group_stop

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
APP_SERVICES = ("web", "web2", "worker", "worker-io", "worker-bulk", "beat")
STARTED_WITH_THE_STACK = ("web", "web2", "worker", "worker-io", "worker-bulk")


class ProductionStackError(RuntimeError):
    pass


def compose_config(env: dict[str, str]) -> dict:
    """docker-compose.yml as the compose client resolves it with `env` (the operator's .env)."""
    client = shutil.which("docker-compose")
    if client is None:
        raise ProductionStackError("docker-compose (the client) is required: apt-get install docker-compose")
    result = subprocess.run([client, "-f", "docker-compose.yml", "config"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise ProductionStackError(f"docker-compose config failed: {result.stderr}")
    return yaml.safe_load(result.stdout)


def render_nginx(conf: str, *, listen: int, upstreams: dict[str, int], static_root: Path) -> str:
    for host, port in upstreams.items():
        conf, count = re.subn(rf"\bserver {host}:8000\b", f"server 127.0.0.1:{port}", conf)
        if count != 1:
            raise ProductionStackError(f"deploy/nginx.conf has no single upstream {host}:8000")
    conf, count = re.subn(r"\blisten 80;", f"listen 127.0.0.1:{listen};", conf)
    if count != 1:
        raise ProductionStackError("deploy/nginx.conf does not listen on 80")
    return conf.replace("alias /srv/static/;", f"alias {static_root}/;")


def nginx_main_conf(server_conf: str, work: Path) -> str:
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers must read the collected files under /tmp
    temp = "\n".join(f"    {kind}_temp_path {work / kind};" for kind in
                     ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return (f"{user}worker_processes 1;\npid {work / 'nginx.pid'};\nerror_log {work / 'nginx-error.log'} warn;\n"
            "events { worker_connections 1024; }\n"
            f"http {{\n    include /etc/nginx/mime.types;\n    default_type application/octet-stream;\n"
            "    log_format upstreams '$remote_addr \"$request\" $status upstream=$upstream_addr';\n"
            f"    access_log {work / 'nginx-access.log'} upstreams;\n{temp}\n{server_conf}\n}}\n")


def _program(argv: list[str]) -> list[str]:
    """The virtualenv's copy of the program a command starts."""
    name = argv[0]
    if name == "python":
        return [sys.executable, *argv[1:]]
    local = BIN / name
    return [str(local) if local.exists() else name, *argv[1:]]


def _with_port(argv: list[str], port: int) -> list[str]:
    return [str(port) if arg == "8000" else arg.replace("127.0.0.1:8000", f"127.0.0.1:{port}") for arg in argv]


class ProductionStack:
    def __init__(self, work: Path, *, database_url: str, redis_url: str, operator_env: dict[str, str]):
        self.work = work
        self.database_url = database_url
        self.redis_url = redis_url
        self.operator_env = operator_env
        self.processes: dict[str, subprocess.Popen] = {}
        self.ports: dict[str, int] = {}
        self.healthchecks: dict[str, list[str]] = {}
        self.commands: dict[str, list[str]] = {}
        self.env: dict[str, str] = {}

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"

    @property
    def port(self) -> int:
        return self.ports["gateway"]

    # --- start -------------------------------------------------------------------------------------

    def start(self) -> ProductionStack:
        nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
        if nginx is None:
            raise ProductionStackError("nginx is required for the production test: apt-get install nginx "
                                       "(.ci/run installs it)")
        if shutil.which("wget") is None:
            raise ProductionStackError("wget is required for the gateway's healthcheck: apt-get install wget")
        compose = compose_config({k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY")}
                                 | self.operator_env)
        services = compose["services"]
        self.ports = {name: free_port() for name in ("web", "web2", "gateway")}
        static_root = self.work / "static"
        # The app services share one environment (x-app-env); only the addresses of Redis and PostgreSQL change.
        env = {str(k): "" if v is None else str(v) for k, v in services["web"]["environment"].items()}
        assert env["DEBUG"] == "0"
        env.update(DATABASE_URL=self.database_url, REDIS_URL=self.redis_url, STATIC_ROOT=str(static_root),
                   PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", HOME=os.environ.get("HOME", "/root"),
                   HOSTNAME=socket.gethostname(), PYTHONUNBUFFERED="1", DJANGO_SETTINGS_MODULE="config.settings")
        self.env = env
        # The image's build step, then the compose "migrate" service.
        self._run(["python", "manage.py", "collectstatic", "--noinput", "-v", "0"], "collectstatic")
        self._run(services["migrate"]["command"], "migrate")
        for name in APP_SERVICES:
            command = services[name]["command"]
            if name in ("web", "web2"):
                command = _with_port(command, self.ports[name])
            self.commands[name] = [str(self.work / "celerybeat-schedule") if arg == "/tmp/celerybeat-schedule"
                                   else arg for arg in command]
        for name in STARTED_WITH_THE_STACK:
            self._spawn(name, self.commands[name])
        self.healthchecks = {name: service["healthcheck"]["test"] for name, service in services.items()
                             if "healthcheck" in service and service["healthcheck"]["test"] != ["NONE"]}
        server_conf = render_nginx((ROOT / "deploy" / "nginx.conf").read_text(), listen=self.ports["gateway"],
                                   upstreams={"web": self.ports["web"], "web2": self.ports["web2"]},
                                   static_root=static_root)
        (self.work / "nginx.conf").write_text(nginx_main_conf(server_conf, self.work))
        checked = subprocess.run([nginx, "-t", "-p", str(self.work), "-c", str(self.work / "nginx.conf")],
                                 capture_output=True, text=True)
        if checked.returncode != 0:
            raise ProductionStackError(f"nginx -t refused the rendered deploy/nginx.conf: {checked.stderr}")
        self._wait_healthy(list(STARTED_WITH_THE_STACK), timeout=180)
        self._spawn("gateway", [nginx, "-p", str(self.work), "-c", str(self.work / "nginx.conf"),
                                "-g", "daemon off;"])
        self._wait_healthy(["gateway"], timeout=30)
        return self

    def service_start(self, name: str, timeout: float = 120) -> None:
        """Start one app service that is not started with the stack (beat), and wait for its healthcheck."""
        self._spawn(name, self.commands[name])
        self._wait_healthy([name], timeout=timeout)

    def service_stop(self, name: str) -> None:
        process_group_stop(self.processes.pop(name), grace=20)

    def _run(self, argv: list[str], log: str) -> None:
        with open(self.work / f"{log}.log", "wb") as out:
            result = subprocess.run(_program(argv), cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                    timeout=300)
        if result.returncode != 0:
            raise ProductionStackError(f"{' '.join(argv)} failed: {(self.work / f'{log}.log').read_text()[-3000:]}")

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = open(self.work / f"{name}.log", "ab")
        self.processes[name] = subprocess.Popen(_program(argv), cwd=ROOT, env=self.env, stdout=log,
                                                stderr=subprocess.STDOUT, start_new_session=True)

    # --- healthchecks, as compose runs them ----------------------------------------------------------

    def healthcheck_argv(self, service: str) -> list[str]:
        test = self.healthchecks[service]
        port = self.ports.get(service, self.ports["gateway"] if service == "gateway" else None)
        kind, rest = test[0], test[1:]
        if service == "redis" and kind == "CMD" and rest[0] == "redis-cli":
            # the redis service's check, against the Redis that stands in for it
            return ["redis-cli", "-u", self.redis_url, *rest[1:]]
        if kind == "CMD-SHELL":
            # Compose writes `$$` for a literal `$`: the container's shell sees one.
            script = rest[0].replace("$$", "$")
            if service == "gateway":
                script = script.replace("http://127.0.0.1/", f"http://127.0.0.1:{port}/")
            return ["/bin/sh", "-c", script]
        if kind != "CMD":
            raise ProductionStackError(f"{service}: unknown healthcheck form {kind}")
        return _program(_with_port(rest, port) if port else rest)

    def healthcheck_env(self, service: str) -> dict[str, str]:
        if service != "postgres":
            return self.env
        # pg_isready runs verbatim; libpq's environment points it at the server that stands in for the service.
        address = urlsplit(self.database_url)
        return self.env | {"PGHOST": address.hostname or "127.0.0.1", "PGPORT": str(address.port or 5432)}

    def healthcheck(self, service: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(self.healthcheck_argv(service), cwd=ROOT, env=self.healthcheck_env(service) | env,
                              capture_output=True, text=True, timeout=60)

    def _wait_healthy(self, services: list[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pending = list(services)
        last: dict[str, str] = {}
        while pending and time.monotonic() < deadline:
            for service in list(pending):
                process = self.processes[service]
                if process.poll() is not None:
                    raise ProductionStackError(f"{service} exited with {process.returncode}: "
                                               f"{(self.work / f'{service}.log').read_text()[-3000:]}")
                result = self.healthcheck(service)
                if result.returncode == 0:
                    pending.remove(service)
                else:
                    last[service] = (result.stdout + result.stderr)[-500:]
            if pending:
                time.sleep(1)
        if pending:
            raise ProductionStackError(f"never healthy: {pending}; last output: {last}")

    # --- stop ----------------------------------------------------------------------------------------

    def stop(self) -> None:
        for name in reversed(list(self.processes)):
            with contextlib.suppress(Exception):
                process_group_stop(self.processes[name], grace=20)
        self.processes.clear()

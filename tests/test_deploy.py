"""The production compose file keeps its shape: every long-running service healthchecked (tests/production runs
those checks verbatim against the real processes), the one-shot migrate job none, start order by health."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _one_shot_jobs(services: dict) -> set[str]:
    """Services others wait for to finish (`service_completed_successfully`): jobs that run once and exit."""
    return {name for service in services.values() for name, needs in (service.get("depends_on") or {}).items()
            if isinstance(needs, dict) and needs.get("condition") == "service_completed_successfully"}


def _celery_node(command: list[str]) -> str:
    """The node name a `celery worker`/`celery beat` command answers `inspect ping` on."""
    if "-n" in command:
        return command[command.index("-n") + 1]
    return "celerybeat@%h" if "beat" in command else "celery@%h"


def test_every_long_running_compose_service_has_a_healthcheck_and_the_one_shot_job_none():
    services = COMPOSE["services"]
    one_shot = _one_shot_jobs(services)
    assert one_shot == {"migrate"}
    assert "restart" not in services["migrate"]
    # The image's HEALTHCHECK probes a daphne: a one-shot job built from it must not inherit that check.
    assert services["migrate"]["healthcheck"] == {"disable": True}
    long_running = [name for name in services if name not in one_shot]
    assert len(long_running) == 9, long_running  # postgres, redis, gateway, web, web2, worker, worker-io, -bulk, beat
    for name in long_running:
        service = services[name]
        assert service.get("restart") == "unless-stopped", name
        check = service.get("healthcheck") or {}
        # Each built service overrides the image's daphne probe with a check of its own process.
        assert check.get("test", [None])[0] in ("CMD", "CMD-SHELL") and not check.get("disable"), name
        assert {"interval", "timeout", "retries"} <= set(check), name
        for needed, condition in (service.get("depends_on") or {}).items():
            expected = "service_completed_successfully" if needed in one_shot else "service_healthy"
            assert condition["condition"] == expected, (name, needed)


def test_every_celery_healthcheck_pings_the_node_its_own_command_names():
    services = COMPOSE["services"]
    celery = {name: service for name, service in services.items() if service.get("command", [""])[0] == "celery"}
    assert set(celery) == {"worker", "worker-io", "worker-bulk", "beat"}
    for name, service in celery.items():
        node = _celery_node(service["command"]).replace("%h", "$$HOSTNAME")
        expected = ["CMD-SHELL", f"celery -A config inspect ping -d {node} --timeout 5"]
        assert service["healthcheck"]["test"] == expected, name
    # beat answers pings only with remote control on (Celery >= 5.7), and then only while its scheduler ticks.
    assert "--enable-remote-control" in services["beat"]["command"]
    assert re.search(r"^celery\[redis\]==5\.(?:[7-9]|\d\d)\.", (ROOT / "requirements.txt").read_text(), re.M)


def test_compose_takes_secrets_only_from_the_environment():
    text = (ROOT / "docker-compose.yml").read_text()
    assert "${SECRET_KEY:?" in text and "${POSTGRES_PASSWORD:?" in text


@pytest.mark.compose
def test_compose_file_validates_with_docker_compose():
    env = dict(os.environ, SECRET_KEY="check", POSTGRES_PASSWORD="check")
    result = subprocess.run(["docker-compose", "-f", "docker-compose.yml", "config", "-q"], cwd=ROOT, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_every_setting_read_from_the_environment_is_documented():
    documented = set(re.findall(r"^([A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))
    read = set()
    for path in [ROOT / "config" / "settings.py", ROOT / "config" / "celery.py", ROOT / "devtools" / "stack.py"]:
        read |= set(re.findall(r"""env(?:\.\w+)?\(\s*["']([A-Z0-9_]+)["']""", path.read_text()))
        read |= set(re.findall(r"""environ(?:\.get)?\(\s*["']([A-Z0-9_]+)["']""", path.read_text()))
    assert read, "no settings found"
    assert read - {"DJANGO_SETTINGS_MODULE"} <= documented, read - documented


def test_the_image_defaults_to_production_and_trusts_the_proxy_headers():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^ENV .*\bDEBUG=0\b", dockerfile, re.M)
    cmd = re.search(r"^CMD (.+)$", dockerfile, re.M).group(1)
    assert "--proxy-headers" in cmd
    assert "ops.probe" in re.search(r"^HEALTHCHECK .+$", dockerfile, re.M).group(0)


def test_compose_healthchecks_probe_healthz_with_an_allowed_host():
    services = COMPOSE["services"]
    for name in ("web", "web2"):
        assert services[name]["healthcheck"]["test"] == ["CMD", "python", "-m", "ops.probe",
                                                         "http://127.0.0.1:8000/healthz"]
        assert "--proxy-headers" in services[name]["command"]
    gateway = services["gateway"]["healthcheck"]["test"][1]
    assert "/healthz" in gateway and "Host: $${ALLOWED_HOSTS%%,*}" in gateway
    assert services["gateway"]["environment"]["ALLOWED_HOSTS"] == "${ALLOWED_HOSTS:-localhost}"
    assert "io@$$HOSTNAME" in services["worker-io"]["healthcheck"]["test"][1]


def test_nginx_replaces_x_forwarded_for_and_passes_the_balancers_scheme():
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    assert "$proxy_add_x_forwarded_for" not in conf
    assert conf.count("proxy_set_header X-Forwarded-For $remote_addr;") == conf.count("proxy_pass ")
    assert conf.count("proxy_set_header X-Forwarded-Proto $forwarded_proto;") == conf.count("proxy_pass ")
    assert re.search(r"map \$http_x_forwarded_proto \$forwarded_proto \{\s*default \$http_x_forwarded_proto;"
                     r"\s*''\s+\$scheme;", conf)


def test_probe_sends_the_first_allowed_host(monkeypatch):
    from ops.probe import probe_host

    monkeypatch.setenv("ALLOWED_HOSTS", "chat.example.com,www.example.com")
    assert probe_host() == "chat.example.com"
    monkeypatch.setenv("ALLOWED_HOSTS", ".example.com")
    assert probe_host() == "localhost"

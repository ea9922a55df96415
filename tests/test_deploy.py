"""The production compose file keeps its shape: every service healthchecked, start order by health."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_postgres_redis_web_and_worker_with_healthchecks():
    services = COMPOSE["services"]
    for name in ("postgres", "redis", "web", "worker"):
        assert "healthcheck" in services[name], name
    for name in ("web", "worker"):
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["redis"]["condition"] == "service_healthy"


def test_compose_takes_secrets_only_from_the_environment():
    text = (ROOT / "docker-compose.yml").read_text()
    assert "${SECRET_KEY:?" in text and "${POSTGRES_PASSWORD:?" in text


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose client not installed")
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

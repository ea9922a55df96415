"""The production compose file keeps its shape: every service healthchecked, start order by health."""

from __future__ import annotations

import os
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
    import re

    documented = set(re.findall(r"^([A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))
    read = set()
    for path in [ROOT / "config" / "settings.py", ROOT / "config" / "celery.py", ROOT / "devtools" / "stack.py"]:
        read |= set(re.findall(r"""env(?:\.\w+)?\(\s*["']([A-Z0-9_]+)["']""", path.read_text()))
        read |= set(re.findall(r"""environ(?:\.get)?\(\s*["']([A-Z0-9_]+)["']""", path.read_text()))
    assert read, "no settings found"
    assert read - {"DJANGO_SETTINGS_MODULE"} <= documented, read - documented

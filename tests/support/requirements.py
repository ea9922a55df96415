"""Programs some tests need that `make test` cannot install (it only makes a virtualenv): which are missing here.

A machine with only Python 3.11 and make has none of them; CI installs them all (.ci/run). Tests whose programs
are missing are left out of the run, named in its summary with the install command, and never counted as passed.
With TRADECHAT_TESTS_REQUIRE_ALL=1 (CI) a missing program fails the run instead.
"""

from __future__ import annotations

import glob
import os
import shutil


def _program(name: str, *fallbacks: str) -> bool:
    return shutil.which(name) is not None or any(os.access(path, os.X_OK) for path in fallbacks)


def _postgres_binaries() -> bool:
    return _program("initdb", *glob.glob("/usr/lib/postgresql/*/bin/initdb"))


# marker -> (is it available here, what to install)
REQUIREMENTS = {
    "browser": (lambda: _program("chromium", "/usr/bin/chromium"), "apt-get install chromium"),
    "production": (lambda: _program("nginx", "/usr/sbin/nginx") and _program("wget") and _program("docker-compose")
                   and _program("pg_isready") and _program("redis-cli")
                   and os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")),
                   "apt-get install nginx wget docker-compose postgresql-client redis-tools, "
                   "and DATABASE_URL=postgres://…"),
    "compose": (lambda: _program("docker-compose"), "apt-get install docker-compose"),
    "postgres_cluster": (_postgres_binaries, "apt-get install postgresql (initdb, pg_ctl, pg_dump)"),
}


def missing_requirements() -> dict[str, str]:
    """Markers whose programs are missing here, with what to install."""
    return {marker: install for marker, (available, install) in REQUIREMENTS.items() if not available()}

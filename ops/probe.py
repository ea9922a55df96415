"""The container healthcheck: GET /healthz on this host with a Host the site accepts. No Django import.

    python -m ops.probe [URL]   # default http://127.0.0.1:8000/healthz; exit 0 when it answers 200

Django refuses a Host outside ALLOWED_HOSTS (400), so the probe sends the first allowed name (a wildcard entry
falls back to "localhost"). Only the public status is read: details need the operator token.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def probe_host() -> str:
    first = (os.environ.get("ALLOWED_HOSTS") or "localhost").split(",")[0].strip()
    return "localhost" if not first or first.startswith(".") or first == "*" else first


def main(argv: list[str]) -> int:
    url = argv[1] if len(argv) > 1 else "http://127.0.0.1:8000/healthz"
    request = urllib.request.Request(url, headers={"Host": probe_host()})
    try:
        with urllib.request.urlopen(request, timeout=3) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as error:
        print(f"{url}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""/healthz (JSON, 200 or 503) and /metrics (Prometheus text format, computed at scrape time)."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .health import run_checks
from .metrics import registry


@never_cache
@require_GET
def healthz(request):
    checks = run_checks()
    healthy = all(check["status"] == "ok" for check in checks.values())
    body = {
        "status": "ok" if healthy else "fail",
        "checks": checks,
        "time": timezone.now().isoformat(timespec="milliseconds"),
    }
    return JsonResponse(body, status=200 if healthy else 503)


@never_cache
@require_GET
def metrics(request):
    token = settings.METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return HttpResponse("metrics token required\n", status=401, content_type="text/plain",
                                headers={"WWW-Authenticate": "Bearer"})
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

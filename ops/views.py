"""/healthz (JSON, 200 or 503) and /metrics (Prometheus text format, computed at scrape time).

Both are closed by default: /healthz tells anybody only "ok" or "fail"; its per-check details (latencies,
error text, worker names) and /metrics need "Authorization: Bearer <METRICS_TOKEN>". Without a token
configured, /metrics is denied outright unless DEBUG is on (a developer's own machine).
"""

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


def operator_authorised(request) -> bool:
    """The caller sent the operator token; with none configured, only a DEBUG (development) site trusts anybody."""
    token = settings.METRICS_TOKEN
    if not token:
        return settings.DEBUG
    given = request.headers.get("Authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


def _refused(request) -> HttpResponse:
    if not settings.METRICS_TOKEN:
        return HttpResponse("operator endpoint disabled: set METRICS_TOKEN\n", status=403, content_type="text/plain")
    return HttpResponse("operator token required\n", status=401, content_type="text/plain",
                        headers={"WWW-Authenticate": "Bearer"})


@never_cache
@require_GET
def healthz(request):
    wants_details = "details" in request.GET
    authorised = operator_authorised(request)
    if wants_details and not authorised:
        return _refused(request)
    checks = run_checks()
    healthy = all(check["status"] == "ok" for check in checks.values())
    body: dict = {"status": "ok" if healthy else "fail"}
    if authorised:
        body["checks"] = checks
        body["time"] = timezone.now().isoformat(timespec="milliseconds")
    return JsonResponse(body, status=200 if healthy else 503)


@never_cache
@require_GET
def metrics(request):
    if not operator_authorised(request):
        return _refused(request)
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

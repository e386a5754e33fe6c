"""Health and error pages. API paths get the JSON error shape; the UI gets a page."""

from __future__ import annotations

from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """Unauthenticated liveness and readiness: database and Redis reachable."""
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # health must report, not raise
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        cache.set("govhub:health", "1", 5)
        checks["redis"] = "ok" if cache.get("govhub:health") == "1" else "error: no round trip"
    except Exception as exc:
        checks["redis"] = f"error: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    return JsonResponse({"status": "ok" if ok else "degraded", "checks": checks}, status=200 if ok else 503)


def _error(request: HttpRequest, status: int, title: str, detail: str) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"error": {"status": status, "code": title.lower().replace(" ", "_"), "detail": detail}}, status=status)
    return render(request, "error.html", {"status": status, "title": title, "detail": detail}, status=status)


def bad_request(request, exception=None):
    return _error(request, 400, "Bad request", "The request could not be understood.")


def permission_denied(request, exception=None):
    return _error(request, 403, "Forbidden", str(exception) if exception and str(exception) else "Your role does not allow this.")


def page_not_found(request, exception=None):
    return _error(request, 404, "Not found", "There is nothing at this address, or you may not see it.")


def server_error(request):
    return _error(request, 500, "Server error", "Something went wrong on our side; it has been logged.")

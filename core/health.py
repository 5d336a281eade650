"""The platform's own liveness, readiness and metrics endpoints.

Readiness checks the platform's own dependencies (database, cache, broker); a domain adds what
only it knows (monitoring: whether beat is alive) with `readiness_check_register` from its
AppConfig.ready(), so this module imports no domain. `/metrics` exports prometheus_client's
registry, into which each domain registers its own collector the same way.
"""
import hmac
import logging
import uuid
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.http import JsonResponse
from django.views.decorators.http import require_GET
from django_prometheus.exports import ExportToDjangoView

from core.api.errors import error_response
from core.broker import check_broker

logger = logging.getLogger("groundstation.health")

# States a check may report: "ok", "unknown" (never seen, e.g. a fresh install: still ready),
# anything else is not ready. A check that raises is "unavailable".
READY_STATES = ("ok", "unknown")


def _check_database() -> str:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def _check_cache() -> str:
    probe = uuid.uuid4().hex
    cache.set("health:probe", probe, timeout=10)
    if cache.get("health:probe") != probe:
        raise RuntimeError("cache did not return what was written")
    return "ok"


def _check_broker() -> str:
    check_broker()
    return "ok"


CHECKS: dict[str, Callable[[], str]] = {"database": _check_database, "cache": _check_cache, "broker": _check_broker}
# Checks that read the database run only when it answered (their failure would say nothing new).
_DATABASE_CHECKS: dict[str, Callable[[], str]] = {}


def readiness_check_register(name: str, check: Callable[[], str]) -> None:
    """Add a database-backed readiness check returning a state (see READY_STATES)."""
    _DATABASE_CHECKS[name] = check


def _run(name: str, check: Callable[[], str]) -> str:
    try:
        return check()
    except Exception as exc:  # any failure of a dependency means "not ready", never a 500
        logger.warning("readiness check failed", extra={"dependency": name, "error": type(exc).__name__})
        return "unavailable"


@require_GET
def liveness(request):
    return JsonResponse({"status": "ok"})


@require_GET
def readiness(request):
    states = {name: _run(name, check) for name, check in CHECKS.items()}
    if states["database"] == "ok":
        states.update({name: _run(name, check) for name, check in _DATABASE_CHECKS.items()})
    ready = all(state in READY_STATES for state in states.values())
    return JsonResponse({"status": "ok" if ready else "unavailable", "checks": states}, status=200 if ready else 503)


@require_GET
def metrics(request):
    """Prometheus text; needs `Authorization: Bearer <METRICS_TOKEN>`. Without a token it is
    served only under DEBUG: it describes every tenant's fleet (`check --deploy` warns)."""
    if not settings.METRICS_TOKEN:
        if settings.DEBUG:
            return ExportToDjangoView(request)
        return error_response(403, message="Metrics are disabled: set METRICS_TOKEN to scrape them.")
    presented = request.META.get("HTTP_AUTHORIZATION", "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(presented.encode(), settings.METRICS_TOKEN.encode()):
        return error_response(401, headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    return ExportToDjangoView(request)

"""The platform's own liveness, readiness and metrics endpoints."""
import hmac
import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from django_prometheus.exports import ExportToDjangoView

from core.api.errors import error_response
from core.broker import check_broker
from monitoring.models import Heartbeat

logger = logging.getLogger("groundstation.health")


@require_GET
def liveness(request):
    return JsonResponse({"status": "ok"})


def _check_database() -> None:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_cache() -> None:
    probe = uuid.uuid4().hex
    cache.set("health:probe", probe, timeout=10)
    if cache.get("health:probe") != probe:
        raise RuntimeError("cache did not return what was written")


CHECKS = {"database": _check_database, "cache": _check_cache, "broker": check_broker}


def _beat_state() -> str:
    """`ok`, `stale` (its last heartbeat, as a worker recorded it, is older than
    BEAT_STALE_AFTER_SECONDS: beat or every worker is gone), or `unknown` (never seen: a fresh
    install, which must not keep the web side out of service)."""
    seen = Heartbeat.objects.filter(key="beat").values_list("seen_at", flat=True).first()
    if seen is None:
        return "unknown"
    return "stale" if timezone.now() - seen > timedelta(seconds=settings.BEAT_STALE_AFTER_SECONDS) else "ok"


@require_GET
def readiness(request):
    states = {}
    for name, check in CHECKS.items():
        try:
            check()
            states[name] = "ok"
        except Exception as exc:  # any failure of a dependency means "not ready", never a 500
            logger.warning("readiness check failed", extra={"dependency": name, "error": type(exc).__name__})
            states[name] = "unavailable"
    if states["database"] == "ok":
        try:
            states["beat"] = _beat_state()
        except Exception as exc:
            logger.warning("readiness check failed", extra={"dependency": "beat", "error": type(exc).__name__})
            states["beat"] = "unavailable"
        if states["beat"] == "stale":
            logger.warning("readiness: beat is stale", extra={"after_seconds": settings.BEAT_STALE_AFTER_SECONDS})
    ready = all(state in ("ok", "unknown") for state in states.values())
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

"""What monitoring adds to the platform's readiness (`core/health.py`): whether beat is alive."""
import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from monitoring.models import Heartbeat

logger = logging.getLogger("groundstation.health")


def beat_state() -> str:
    """`ok`, `stale` (its last heartbeat, as a worker recorded it, is older than
    BEAT_STALE_AFTER_SECONDS: beat or every worker is gone), or `unknown` (never seen: a fresh
    install, which must not keep the web side out of service)."""
    seen = Heartbeat.objects.filter(key="beat").values_list("seen_at", flat=True).first()
    if seen is None:
        return "unknown"
    if timezone.now() - seen > timedelta(seconds=settings.BEAT_STALE_AFTER_SECONDS):
        logger.warning("readiness: beat is stale", extra={"after_seconds": settings.BEAT_STALE_AFTER_SECONDS})
        return "stale"
    return "ok"

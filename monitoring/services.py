"""Monitoring writes."""
from datetime import datetime

from django.utils import timezone

from monitoring.models import Heartbeat


def heartbeat_record(*, key: str, sent_at: datetime, worker: str) -> Heartbeat:
    heartbeat, _ = Heartbeat.objects.update_or_create(
        key=key, defaults={"worker": worker, "sent_at": sent_at, "seen_at": timezone.now()}
    )
    return heartbeat

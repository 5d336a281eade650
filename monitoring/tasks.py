"""Celery tasks of the monitoring app: thin wrappers over services."""
from celery import shared_task
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from monitoring import services


@shared_task(bind=True, ignore_result=True)
def heartbeat(self, key: str = "beat", sent_at: str | None = None) -> None:
    """Proves the path web/beat → broker → worker → database works."""
    services.heartbeat_record(
        key=key,
        sent_at=parse_datetime(sent_at) if sent_at else timezone.now(),
        worker=self.request.hostname or "",
    )

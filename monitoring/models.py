"""Monitoring models. The platform's own heartbeat lives here beside the fleet's."""
from django.db import models


class Heartbeat(models.Model):
    """Last time a Celery worker ran a heartbeat task sent by `key` (beat, or a smoke test)."""

    key = models.CharField(max_length=100, unique=True)
    worker = models.CharField(max_length=200, blank=True)
    sent_at = models.DateTimeField()
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.key} @ {self.seen_at:%Y-%m-%d %H:%M:%S}"

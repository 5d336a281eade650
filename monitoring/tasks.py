"""Celery tasks of the monitoring app: thin wrappers over services.

Periodic schedules live in settings.CELERY_BEAT_SCHEDULE (one place).
"""
import logging

from celery import shared_task
from django.conf import settings
from django.db import OperationalError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from monitoring import alerts, live, rollups, services

logger = logging.getLogger("groundstation.monitoring.tasks")


@shared_task(
    bind=True, ignore_result=True, autoretry_for=(OperationalError,), retry_backoff=0.5, retry_jitter=True,
    max_retries=3,
)
def heartbeat(self, key: str = "beat", sent_at: str | None = None) -> None:
    """Proves the path web/beat → broker → worker → database works."""
    services.heartbeat_record(
        key=key,
        sent_at=parse_datetime(sent_at) if sent_at else timezone.now(),
        worker=self.request.hostname or "",
    )


@shared_task(ignore_result=True)
def dispatch_due_checks() -> int:
    """Beat, every few seconds: claim due nodes in batches and hand each batch to a worker.

    Each node's own interval decides when it is due, so a sweep never falls behind globally;
    the claim makes a second beat (or an overlapping run) harmless.
    """
    batch_size = settings.MONITORING_DISPATCH_BATCH_SIZE
    dispatched = 0
    while True:
        token, node_ids = services.nodes_claim_due(limit=batch_size)
        if not node_ids:
            break
        run_check_batch.delay(str(token), [str(pk) for pk in node_ids])
        dispatched += len(node_ids)
        if len(node_ids) < batch_size:
            break
    return dispatched


@shared_task(
    ignore_result=True,
    acks_late=False,
    autoretry_for=(OperationalError,),
    retry_backoff=0.5,
    retry_jitter=True,
    max_retries=3,
)
def run_check_batch(token: str, node_ids: list[str]) -> int:
    """Run one claimed batch concurrently; not re-delivered if the worker dies (the next
    interval re-checks). A locked database (SQLite under concurrent batches) retries the batch:
    its writes are atomic, so nothing was recorded, and its claim token still holds."""
    return len(services.nodes_run_claimed(token=token, node_ids=node_ids))


@shared_task(bind=True, ignore_result=True, max_retries=alerts.MAX_ATTEMPTS - 1)
def deliver_alert(self, delivery_id: str) -> None:
    """One attempt per run; failures retry with exponential backoff up to MAX_ATTEMPTS (a lost
    retry is made by `resend_due_alerts`)."""
    ok = alerts.alert_delivery_attempt(delivery_id=delivery_id)
    if ok is False and self.request.retries < self.max_retries:
        countdown = alerts.seconds_until_next_attempt(delivery_id=delivery_id)
        if countdown is not None:
            raise self.retry(countdown=countdown)


@shared_task(ignore_result=True)
def resend_due_alerts() -> int:
    return alerts.alert_deliveries_resend_due()


@shared_task(ignore_result=True)
def send_alert_reminders() -> int:
    return alerts.alert_reminders_send()


@shared_task(ignore_result=True)
def rollup_snapshots() -> dict:
    return rollups.snapshots_rollup()


@shared_task(ignore_result=True)
def purge_snapshots() -> int:
    # The live outbox too: web processes with WebSocket clients prune it as they drain it, but
    # with no client anywhere nobody would (monitoring/live.py).
    live.outbox_prune()
    return rollups.snapshots_purge()

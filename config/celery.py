"""Celery application: `celery -A config worker -B` works out of the box."""

import logging
import os
import time

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("groundstation")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

logger = logging.getLogger("groundstation.beat")


# A connection that finished a task this recently is not health-checked again before the next
# one: on a busy worker that check is a round trip per task for nothing.
RECENTLY_USED_SECONDS = 1.0


def _is_eager(task) -> bool:
    return task is None or bool(getattr(task.request, "is_eager", False))


@signals.task_postrun.connect
def recycle_database_connections(task=None, **_) -> None:
    """Treat each task like a request: drop connections that are broken or older than
    CONN_MAX_AGE, keep the others open (settings.CELERY_DB_REUSE_MAX stops Celery's Django
    fixup from closing them around every task). Eager calls run inside their caller's request
    or transaction and are left alone."""
    if _is_eager(task):
        return
    from django.db import close_old_connections, connections

    close_old_connections()
    for conn in connections.all(initialized_only=True):
        conn.gs_released_at = time.monotonic()


@signals.task_prerun.connect
def skip_health_check_of_warm_connections(task=None, **_) -> None:
    if _is_eager(task):
        return
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        released = getattr(conn, "gs_released_at", None)
        if conn.connection is not None and released and time.monotonic() - released < RECENTLY_USED_SECONDS:
            conn.health_check_done = True


@signals.beat_init.connect
def announce_beat(**_) -> None:
    """Beat's first heartbeat goes out as it starts, not one interval (30 s) later: readiness
    sees a started beat at once, and `make run`'s operator message waits for it so that it
    prints below beat's banner. One attempt: the scheduled heartbeat follows anyway."""
    from django.utils import timezone

    from monitoring.tasks import heartbeat

    try:
        heartbeat.apply_async(kwargs={"key": "beat", "sent_at": timezone.now().isoformat()}, retry=False)
    except Exception as exc:  # noqa: BLE001 - a broker that is down must not stop beat from starting
        logger.warning("beat: start-up heartbeat not sent", extra={"error": type(exc).__name__})

"""Celery beat's scheduler: django-celery-beat's `DatabaseScheduler`, made to outlive database
outages.

The stock scheduler reads every schedule from the database at start-up and again every five
minutes, and neither read handles a database error: after an outage (or while connections are
exhausted) the read raises out of `tick()`, the beat thread dies, and a `worker -B` process
stays up without it — usage flush, monitoring dispatch and the reaper silently stop. Here a
failed read closes the broken connections and is retried with exponential backoff while beat
keeps sending from the schedule it already has; the first successful read resumes normal
operation. `BEAT_STALE_AFTER_SECONDS` lets readiness and the dashboard report a beat that
stopped anyway (`core/health.py` with `monitoring/health.py`, `console/selectors.py`).
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import random
import time

from django.conf import settings
from django.db import DatabaseError, InterfaceError, connections
from django_celery_beat.schedulers import DatabaseScheduler

logger = logging.getLogger("groundstation.beat")

DATABASE_ERRORS = (DatabaseError, InterfaceError)
BACKOFF_FIRST_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 30.0


class ResilientDatabaseScheduler(DatabaseScheduler):
    def __init__(self, *args, **kwargs):
        self._failures = 0  # consecutive failed reads of the schedule
        self._retry_at = 0.0  # time.monotonic() of the next read while failing
        super().__init__(*args, **kwargs)

    def setup_schedule(self):
        # Beat started while the database is down: wait for it rather than exit.
        while True:
            try:
                return super().setup_schedule()
            except DATABASE_ERRORS as exc:
                self._initial_read = True  # the failed read consumed it
                time.sleep(self._failed(exc))

    def tick(self, *args, **kwargs):
        try:
            return super().tick(*args, **kwargs)
        except DATABASE_ERRORS as exc:
            return min(self._failed(exc), self.max_interval)

    def schedule_changed(self):
        if self._failures:
            # Failing: no query (and no logged traceback) per tick; re-read when the backoff is up.
            return time.monotonic() >= self._retry_at
        if (
            self._last_full_sync
            and (datetime.datetime.now() - self._last_full_sync).total_seconds() >= settings.BEAT_FULL_SYNC_SECONDS
        ):
            return True
        return super().schedule_changed()

    def all_as_schedule(self):
        schedule = super().all_as_schedule()
        if self._failures:
            logger.warning("beat: database reachable again", extra={"failed_reads": self._failures})
            self._failures = 0
        return schedule

    def _failed(self, exc: Exception) -> float:
        """Count a failed read, drop the broken connections, return how long to wait."""
        self._failures += 1
        for connection in connections.all(initialized_only=True):
            with contextlib.suppress(Exception):  # closing a dead connection may raise; it is reset anyway
                connection.close()
        delay = min(BACKOFF_FIRST_SECONDS * 2 ** (self._failures - 1), BACKOFF_MAX_SECONDS)
        delay *= 0.5 + random.random() / 2  # two beats (or a restart) do not retry in lockstep
        self._retry_at = time.monotonic() + delay
        log = logger.error if self._failures == 1 else logger.warning
        log(
            "beat: the database is unreachable; keeping the current schedule and retrying",
            extra={"error": type(exc).__name__, "failed_reads": self._failures, "retry_in_seconds": round(delay, 1)},
        )
        return delay

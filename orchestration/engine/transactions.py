"""Short database transactions of the engine: retries of transient lock errors, and the run's
row lock every transition of a run happens under."""

from __future__ import annotations

import random
import time

from django.db import OperationalError, connection
from django.db.models import F

from orchestration.models import Run


def retrying(func, *, attempts: int = 8):
    """Run a short DB operation, retrying transient lock errors (SQLite 'database is locked',
    PostgreSQL deadlock victims) so a busy database never loses a step's result."""
    for attempt in range(attempts):
        try:
            return func()
        except OperationalError:
            if attempt == attempts - 1:
                raise
            if not connection.in_atomic_block:
                # A broken connection (the server restarted) is not reopened by Django on its
                # own while it is still set: drop it so the next try connects afresh.
                connection.close_if_unusable_or_obsolete()
            time.sleep(0.05 * (2**attempt) * (0.5 + random.random()))


def lock_run(run_pk) -> Run | None:
    if connection.vendor == "sqlite":
        # SQLite has no row locks: take the database write lock first, so the reads that
        # follow cannot go stale before our writes (SELECT … FOR UPDATE is a no-op there).
        Run.objects.filter(pk=run_pk).update(status=F("status"))
    return Run.objects.select_for_update().filter(pk=run_pk).first()

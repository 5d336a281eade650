"""The app's clock and the time spans every layer agrees on.

One `now()` for services, selectors and the engine, so a test can move time for all of them
(`monkeypatch.setattr(clock, "now", …)`; callers look it up as `clock.now()` for that reason).
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

# How long an Idempotency-Key's first response is replayed; the reaper purges older records.
IDEMPOTENCY_TTL = timedelta(hours=24)


def now():
    return timezone.now()

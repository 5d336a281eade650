"""Reads behind the dashboard. Every figure is an aggregate, so the page costs the same
handful of queries whether the fleet has five nodes or fifty thousand."""
from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db.models import Case, Count, IntegerField, Q, Sum, Value, When
from django.db.models.functions import TruncHour
from django.utils import timezone

from apikeys.models import ApiCall, UsageRollup
from monitoring.models import AVAILABLE, Heartbeat, Incident, Node, NodeGroup, Status
from orchestration.models import Run, RunStatus

logger = logging.getLogger("groundstation.console")

STATUSES = [s.value for s in Status]
RUN_STATUSES = [s.value for s in RunStatus]
# A worker that ran no heartbeat for this long no longer counts as seen.
WORKER_SEEN_WITHIN = timedelta(minutes=10)
GROUPS_SHOWN = 12
INCIDENTS_SHOWN = 10
TOP_TENANTS = 5
TOP_TENANTS_DAYS = 7  # today and the six days before (UTC)


class HourBucket(TruncHour):
    """TruncHour; on SQLite, slicing the stored UTC text instead of calling Django's per-row
    Python function, which is ~8x slower on 100k rows (see bench/console_bench.py)."""

    def as_sqlite(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.lhs)
        return f"(substr({sql}, 1, 13) || ':00:00')", params


def hours_ending_at(now: datetime, count: int = 24) -> list[datetime]:
    """The starts of the last `count` whole-or-current hours, oldest first."""
    current = now.replace(minute=0, second=0, microsecond=0)
    return [current - timedelta(hours=count - 1 - i) for i in range(count)]


def _hour_key(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def fleet_summary() -> dict:
    """Node counts by status, plus paused and total — one query."""
    counts = Node.objects.aggregate(
        total=Count("id"),
        paused=Count("id", filter=Q(enabled=False)),
        **{status: Count("id", filter=Q(status=status, enabled=True)) for status in STATUSES},
    )
    return counts


def group_summary() -> dict:
    """Groups by status (one query) and the groups most in need of a look, with their quorum:
    down first, then degraded/unknown (one query, members counted in the database)."""
    by_status = NodeGroup.objects.aggregate(
        total=Count("id"), **{status: Count("id", filter=Q(status=status)) for status in STATUSES}
    )
    # Problems first, so a large healthy fleet does not push them off the page.
    urgency = Case(
        When(status=Status.DOWN, then=Value(0)),
        When(status=Status.DEGRADED, then=Value(1)),
        When(status=Status.UNKNOWN, then=Value(2)),
        default=Value(3),
        output_field=IntegerField(),
    )
    groups = list(
        NodeGroup.objects.select_related("tenant")
        .annotate(
            members=Count("nodes", filter=Q(nodes__enabled=True)),
            online=Count("nodes", filter=Q(nodes__enabled=True, nodes__status__in=AVAILABLE)),
        )
        .order_by(urgency, "name")[:GROUPS_SHOWN]
    )
    return {"counts": by_status, "rows": groups}


def open_incidents() -> dict:
    rows = list(
        Incident.objects.filter(state=Incident.State.OPEN)
        .select_related("tenant", "node", "group", "acknowledged_by")
        .order_by("-opened_at")[:INCIDENTS_SHOWN]
    )
    # One query for the total only when the page is full; a short list is its own count.
    total = len(rows) if len(rows) < INCIDENTS_SHOWN else Incident.objects.filter(state=Incident.State.OPEN).count()
    unacknowledged = sum(1 for r in rows if r.acknowledged_at is None)
    return {"rows": rows, "total": total, "unacknowledged_shown": unacknowledged}


def runs_last_24h(now: datetime) -> dict:
    """Runs created in the last 24 h, per hour and status — one query."""
    hours = hours_ending_at(now)
    per_hour = {h: dict.fromkeys(RUN_STATUSES, 0) for h in hours}
    totals = dict.fromkeys(RUN_STATUSES, 0)
    rows = (
        Run.objects.filter(created_at__gte=hours[0])
        .annotate(hour=HourBucket("created_at"))
        .values("hour", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in rows:
        bucket = per_hour.get(_hour_key(row["hour"]))
        if bucket is not None and row["status"] in bucket:
            bucket[row["status"]] += row["n"]
            totals[row["status"]] += row["n"]
    return {"hours": hours, "per_hour": [per_hour[h] for h in hours], "totals": totals, "total": sum(totals.values())}


def requests_last_24h(now: datetime) -> dict:
    """Metered API calls per hour with 429s and 5xx (one query) and the top tenants of the
    week by requests (one query)."""
    hours = hours_ending_at(now)
    per_hour = {h: {"requests": 0, "limited": 0, "errors": 0} for h in hours}
    rows = (
        ApiCall.objects.filter(created_at__gte=hours[0])
        .annotate(hour=HourBucket("created_at"))
        .values("hour")
        .annotate(
            requests=Count("id"),
            limited=Count("id", filter=Q(status=429)),
            errors=Count("id", filter=Q(status__gte=500)),
        )
        .order_by()
    )
    for row in rows:
        bucket = per_hour.get(_hour_key(row["hour"]))
        if bucket is not None:
            for field in ("requests", "limited", "errors"):
                bucket[field] += row[field]
    series = [per_hour[h] for h in hours]
    # Daily rollups (kept current by the flush task) rather than a GROUP BY over a day of raw
    # calls: a handful of rows per tenant and day, whatever the traffic.
    top = list(
        UsageRollup.objects.filter(day__gte=now.date() - timedelta(days=TOP_TENANTS_DAYS - 1))
        .values("tenant_id", "tenant__slug", "tenant__name")
        .annotate(requests=Sum("requests"), errors=Sum("errors"))
        .order_by("-requests")[:TOP_TENANTS]
    )
    return {
        "hours": hours,
        "per_hour": series,
        "requests": sum(b["requests"] for b in series),
        "limited": sum(b["limited"] for b in series),
        "errors": sum(b["errors"] for b in series),
        "top_tenants": top,
    }


def queue_depth(app=None) -> int | None:
    """Messages waiting in the default `celery` queue, or None when the broker cannot say.

    Reads the running Celery app's broker settings (not only Django's), so it reports the
    broker the workers really consume from.
    """
    if app is None:
        from celery import current_app as app
    url = app.conf.broker_url or ""
    try:
        if url.startswith(("redis://", "rediss://", "unix://")):
            import redis

            client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
            try:
                return int(client.llen("celery"))
            finally:
                client.close()
        if url.startswith("filesystem://"):
            folder = Path((app.conf.broker_transport_options or {}).get("data_folder_in", "data_in"))
            # kombu names each message "<ms>_<uuid>.<queue>.msg".
            return sum(1 for name in _listdir(folder) if name.endswith(".celery.msg"))
    except Exception:  # a dashboard must render while the broker is down
        logger.warning("queue depth unavailable", exc_info=True)
    return None


def _listdir(folder: Path) -> list[str]:
    try:
        return [entry.name for entry in folder.iterdir()]
    except FileNotFoundError:
        return []


def celery_health(now: datetime) -> dict:
    """Heartbeats (one query): beat's last tick and the workers that ran one recently."""
    beats = list(Heartbeat.objects.order_by("key"))
    beat = next((b for b in beats if b.key == "beat"), None)
    if beat is None:
        beat_state = "never"
    elif now - beat.seen_at > timedelta(seconds=settings.BEAT_STALE_AFTER_SECONDS):
        beat_state = "late"
    else:
        beat_state = "ok"
    workers = sorted({b.worker for b in beats if b.worker and now - b.seen_at <= WORKER_SEEN_WITHIN})
    return {
        "beat": beat,
        "beat_state": beat_state,
        "beat_age": (now - beat.seen_at) if beat else None,
        "heartbeats": beats,
        "workers": workers,
        "queue_depth": queue_depth(),
    }


def fleet_strip() -> dict:
    """What the admin index shows above the app list: node counts and open incidents (2 queries)."""
    return {
        "nodes": fleet_summary(),
        "open_incidents": Incident.objects.filter(state=Incident.State.OPEN).count(),
    }


def dashboard(*, now: datetime | None = None) -> dict:
    now = now or timezone.now()
    return {
        "now": now,
        "nodes": fleet_summary(),
        "groups": group_summary(),
        "incidents": open_incidents(),
        "runs": runs_last_24h(now),
        "api": requests_last_24h(now),
        "celery": celery_health(now),
    }

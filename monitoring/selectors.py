"""Monitoring reads: tenant-scoped querysets, status summaries and statistics."""
from collections import defaultdict
from datetime import datetime, timedelta

from django.db.models import Count, Q
from django.utils import timezone

from monitoring.models import AVAILABLE, Incident, Node, NodeGroup, Snapshot, SnapshotRollup, Status
from monitoring.rollups import (
    DAY,
    Accumulator,
    Resolution,
    aggregate_rollups,
    aggregate_snapshots,
    floor_day,
    floor_hour,
    percentile,
    watermarks,
)
from tenants.models import Tenant

UPTIME_WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7),
                  "30d": timedelta(days=30)}
MAX_GROUP_BUCKETS = 1000


def node_list(*, tenant: Tenant):
    return Node.objects.for_tenant(tenant).select_related("group")


def snapshot_history(*, node: Node, start: datetime | None = None, end: datetime | None = None):
    queryset = Snapshot.objects.filter(node=node)
    if start:
        queryset = queryset.filter(checked_at__gte=start)
    if end:
        queryset = queryset.filter(checked_at__lt=end)
    return queryset


def status_summary(*, tenant: Tenant) -> dict:
    counts = dict(Node.objects.for_tenant(tenant).values_list("status").annotate(n=Count("pk")).order_by())
    groups = list(
        NodeGroup.objects.for_tenant(tenant)
        .annotate(
            members=Count("nodes", filter=Q(nodes__enabled=True)),
            members_up=Count("nodes", filter=Q(nodes__enabled=True, nodes__status__in=AVAILABLE)),
        )
        .order_by("name")
    )
    return {
        "nodes": {
            "total": sum(counts.values()),
            **{status: counts.get(status, 0) for status in Status.values},
        },
        "groups": [
            {
                "group_id": str(g.pk),
                "name": g.name,
                "status": g.status,
                "min_online": g.min_online,
                "members": g.members,
                "members_up": g.members_up,
            }
            for g in groups
        ],
        "incidents_open": Incident.objects.for_tenant(tenant).filter(state=Incident.State.OPEN).count(),
    }


# --- Uptime ---------------------------------------------------------------------------------
def _accumulate(*, tenant: Tenant, start: datetime, end: datetime) -> dict:
    """Per-node Accumulators over [start, end), aggregated by the database: daily rollups for
    whole days, hourly rollups for the hours around them, raw snapshots after the hourly
    watermark. Rollups have hour granularity, so a window starting mid-hour includes that hour."""
    hour_mark, day_mark = watermarks()
    per_node: dict = defaultdict(Accumulator)
    raw_from = start
    if hour_mark and start < hour_mark:
        rolled_from = floor_hour(start)
        rolled_to = min(hour_mark, end)
        # Whole days inside [rolled_from, rolled_to) that have a daily row.
        first_day = rolled_from if rolled_from == floor_day(rolled_from) else floor_day(rolled_from) + DAY
        days_to = min(day_mark, floor_day(rolled_to)) if day_mark else None
        spans = [(Resolution.HOUR, rolled_from, rolled_to)]
        if days_to and first_day < days_to:
            spans = [
                (Resolution.HOUR, rolled_from, first_day),
                (Resolution.DAY, first_day, days_to),
                (Resolution.HOUR, days_to, rolled_to),
            ]
        for resolution, span_start, span_end in spans:
            if span_start < span_end:
                rows = SnapshotRollup.objects.filter(
                    tenant=tenant, resolution=resolution, bucket_start__gte=span_start, bucket_start__lt=span_end
                )
                for row in aggregate_rollups(rows):
                    per_node[row["node_id"]].add(row)
        raw_from = max(start, hour_mark)
    if raw_from < end:
        rows = Snapshot.objects.filter(tenant=tenant, checked_at__gte=raw_from, checked_at__lt=end)
        for row in aggregate_snapshots(rows):
            per_node[row["node_id"]].add(row)
    return per_node


def _down_seconds(incidents, start: datetime, end: datetime) -> float:
    total = 0.0
    for opened, resolved in incidents:
        overlap_start, overlap_end = max(opened, start), min(resolved or end, end)
        if overlap_end > overlap_start:
            total += (overlap_end - overlap_start).total_seconds()
    return total


def uptime_statistics(*, tenant: Tenant, window: str, now: datetime | None = None) -> dict:
    now = now or timezone.now()
    start = now - UPTIME_WINDOWS[window]
    if UPTIME_WINDOWS[window] >= timedelta(days=7):
        # Long windows start at midnight UTC: whole daily rollups instead of up to 23 hourly
        # rows per node for the first, partial day (≤ 1 day more history, ~1/7 or 1/30).
        start = floor_day(start)
    per_node = _accumulate(tenant=tenant, start=start, end=now)
    results = []
    nodes = list(Node.objects.for_tenant(tenant).values_list("pk", "name", "group_id"))
    per_group: dict = defaultdict(Accumulator)
    for pk, name, group_id in nodes:
        acc = per_node.get(pk, Accumulator())
        results.append(_row("node_id", pk, name, acc.uptime_percent, acc))
        if group_id:
            per_group[group_id].merge(acc)
    # A group's uptime is time-based: the share of the window it was not in a down incident.
    incidents_by_group = defaultdict(list)
    for group_id, opened, resolved in Incident.objects.for_tenant(tenant).filter(
        group__isnull=False, opened_at__lt=now
    ).filter(Q(resolved_at__isnull=True) | Q(resolved_at__gt=start)).values_list("group_id", "opened_at",
                                                                                  "resolved_at"):
        incidents_by_group[group_id].append((opened, resolved))
    for group in NodeGroup.objects.for_tenant(tenant):
        acc = per_group.get(group.pk, Accumulator())
        observed_from = max(start, group.created_at)
        span = (now - observed_from).total_seconds()
        down = _down_seconds(incidents_by_group[group.pk], observed_from, now)
        uptime = round(100.0 * (span - down) / span, 3) if span > 0 else None
        results.append(_row("group_id", group.pk, group.name, uptime, acc))
    return {"window": window, "from": start, "to": now, "results": results}


def _row(key: str, pk, name: str, uptime: float | None, acc: Accumulator) -> dict:
    return {
        key: str(pk),
        "name": name,
        "uptime_percent": uptime,
        "checks": acc.checks,
        "p50_ms": percentile(acc.histogram, 0.50),
        "p95_ms": percentile(acc.histogram, 0.95),
    }


def group_statistics(*, tenant: Tenant, start: datetime, end: datetime, bucket: timedelta) -> dict:
    """Each group's share of up-time per bucket, from its down incidents."""
    now = timezone.now()
    edges = []
    cursor = start
    while cursor < end and len(edges) < MAX_GROUP_BUCKETS:
        edges.append((cursor, min(cursor + bucket, end)))
        cursor += bucket
    incidents = defaultdict(list)
    for group_id, opened, resolved in Incident.objects.for_tenant(tenant).filter(
        group__isnull=False, opened_at__lt=end
    ).filter(Q(resolved_at__isnull=True) | Q(resolved_at__gt=start)).values_list("group_id", "opened_at",
                                                                                  "resolved_at"):
        incidents[group_id].append((opened, resolved))
    results = []
    for group in NodeGroup.objects.for_tenant(tenant):
        buckets = []
        for bucket_start, bucket_end in edges:
            observed_from, observed_to = max(bucket_start, group.created_at), min(bucket_end, now)
            span = (observed_to - observed_from).total_seconds()
            if span <= 0:
                buckets.append({"start": bucket_start, "uptime_percent": None, "down_seconds": 0})
                continue
            down = _down_seconds(incidents[group.pk], observed_from, observed_to)
            buckets.append(
                {"start": bucket_start, "uptime_percent": round(100.0 * (span - down) / span, 3),
                 "down_seconds": round(down, 1)}
            )
        results.append(
            {"group_id": str(group.pk), "name": group.name, "min_online": group.min_online, "status": group.status,
             "buckets": buckets}
        )
    return {"from": start, "to": end, "bucket_seconds": int(bucket.total_seconds()), "results": results}


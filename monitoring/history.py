"""Reads for the console's node and group pages: the latest checks, hourly latency and
availability, uptime per window and recent incidents.

Each read costs a fixed number of queries however many checks or days it covers: hours come
from the hourly rollups up to the hourly watermark and from raw snapshots after it (the part
not rolled up yet, an hour or two when the rollup task runs), and the bars of a whole list
page come from one statement.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import reduce
from operator import or_

from django.db.models import Q
from django.utils import timezone

from monitoring.models import AVAILABLE, Incident, Node, NodeGroup, Snapshot, SnapshotRollup, Status
from monitoring.rollups import (
    HISTOGRAM_FIELDS,
    Accumulator,
    Resolution,
    aggregate_snapshots,
    bucket_index,
    floor_day,
    floor_hour,
    percentile,
    rollup_sums,
    watermarks,
)
from monitoring.selectors import WATERMARK_ATTEMPTS, _down_seconds, rollup_spans

PAGE_CHECKS = 90  # the node page's bar
LIST_CHECKS = 30  # the compact bar of a list row
RECENT_INCIDENTS = 10
UPTIME_WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
HOUR = timedelta(hours=1)
# SQLite allows 500 terms in one compound SELECT; a list page shows at most a few hundred rows.
MAX_UNION_TERMS = 400


@dataclass(frozen=True)
class Check:
    checked_at: datetime
    status: str
    latency_ms: float | None
    http_status: int | None
    error: str


@dataclass
class Hour:
    """One hour of one node (or of a group's members): counts, latency, availability."""

    start: datetime
    checks: int = 0
    available: int = 0
    avg_ms: float | None = None
    p95_ms: float | None = None
    online: float | None = None  # groups: members available on average over the hour


CHECK_FIELDS = ("checked_at", "status", "latency_ms", "http_status", "error")


def node_recent_checks(*, node: Node, limit: int = PAGE_CHECKS) -> list[Check]:
    """The node's last `limit` checks, oldest first (one query on the node-time index)."""
    rows = Snapshot.objects.filter(node=node).order_by("-checked_at").values_list(*CHECK_FIELDS)[:limit]
    return [Check(*row) for row in reversed(rows)]


def nodes_recent_checks(*, node_ids: Iterable, limit: int = LIST_CHECKS) -> dict:
    """node id → its last `limit` checks, oldest first, for a whole list page in one statement:
    a UNION ALL of one index range per node (`ORDER BY checked_at DESC LIMIT n` on the
    node-time index). A window function (ROW_NUMBER per node, as Django's sliced prefetch
    does) would read every stored snapshot of those nodes first: 14 days of them."""
    node_ids = list(node_ids)
    found: dict = defaultdict(list)
    for offset in range(0, len(node_ids), MAX_UNION_TERMS):
        parts, params = [], []
        for index, pk in enumerate(node_ids[offset:offset + MAX_UNION_TERMS]):
            queryset = Snapshot.objects.filter(node_id=pk).order_by("-checked_at").values_list(
                "id", "node_id", *CHECK_FIELDS
            )[:limit]
            sql, term_params = queryset.query.sql_with_params()
            parts.append(f"SELECT * FROM ({sql}) recent_{index}")  # noqa: S608 - Django-compiled SQL only
            params.extend(term_params)
        # raw() converts columns through the model's fields (datetimes on SQLite too).
        for row in Snapshot.objects.raw(" UNION ALL ".join(parts), params):
            found[row.node_id].append(Check(*(getattr(row, name) for name in CHECK_FIELDS)))
    return {pk: sorted(checks, key=lambda c: c.checked_at) for pk, checks in found.items()}


def _hours(start: datetime, end: datetime) -> list[datetime]:
    hours, cursor = [], floor_hour(start)
    while cursor < end:
        hours.append(cursor)
        cursor += HOUR
    return hours


def node_hourly(*, node: Node, start: datetime, end: datetime) -> list[Hour]:
    """One Hour per hour in [floor_hour(start), end): hourly rollups up to the watermark, raw
    snapshots after it. Three queries (watermarks, rollups, raw tail)."""
    hours = _hours(start, end)
    if not hours:
        return []
    mark = watermarks().get(Resolution.HOUR)
    accs: dict = defaultdict(Accumulator)
    if mark and mark > hours[0]:
        rows = SnapshotRollup.objects.filter(
            node=node, resolution=Resolution.HOUR, bucket_start__gte=hours[0], bucket_start__lt=min(mark, end)
        ).values("bucket_start", "checks", "up", "degraded", "down", "latency_sum_ms", *HISTOGRAM_FIELDS)
        for row in rows:
            accs[row["bucket_start"]].add({f"s_{k}": v for k, v in row.items() if k != "bucket_start"})
    raw_from = max(hours[0], mark) if mark else hours[0]
    raw = Snapshot.objects.filter(node=node, checked_at__gte=raw_from, checked_at__lt=end).values_list(
        "checked_at", "status", "latency_ms"
    )
    for checked_at, status, latency in raw:
        _add_raw(accs[floor_hour(checked_at)], status, latency)
    result = []
    for hour in hours:
        acc = accs.get(hour)
        if acc is None or not acc.checks:
            result.append(Hour(start=hour))
            continue
        available = acc.up + acc.degraded
        result.append(Hour(
            start=hour, checks=acc.checks, available=available,
            avg_ms=round(acc.latency_sum_ms / available, 1) if available else None,
            p95_ms=percentile(acc.histogram, 0.95),  # estimated from the buckets, as the API's
        ))
    return result


def _add_raw(acc: Accumulator, status: str, latency: float | None) -> None:
    if status not in (Status.UP, Status.DEGRADED, Status.DOWN):
        return  # a check the guard refused measured nothing (as in the rollups)
    acc.checks += 1
    setattr(acc, status, getattr(acc, status) + 1)
    if status in AVAILABLE and latency is not None:
        acc.latency_sum_ms += latency
        acc.histogram[bucket_index(latency)] += 1


def node_uptime(*, node: Node, now: datetime | None = None) -> dict[str, float | None]:
    """Uptime percent of one node over 24 h, 7 d and 30 d (None: no check in the window), from
    the fewest rollup rows that cover each window (as the API's uptime) plus the raw tail.
    Eight queries: the watermarks before and after, and two per window."""
    now = now or timezone.now()
    marks = watermarks()
    for _ in range(WATERMARK_ATTEMPTS):
        result = {name: _node_window(node, now, length, marks) for name, length in UPTIME_WINDOWS.items()}
        current = watermarks()
        if current == marks:
            break
        marks = current
    return result


def _node_window(node: Node, now: datetime, length: timedelta, marks: dict) -> float | None:
    start = now - length
    if length >= timedelta(days=7):
        start = floor_day(start)  # as the API: long windows read whole daily rows
    acc = Accumulator()
    spans = rollup_spans(start=start, end=now, marks=marks)
    if spans:
        covered = reduce(or_, (Q(resolution=r, bucket_start__gte=a, bucket_start__lt=b) for r, a, b in spans))
        for row in rollup_sums(SnapshotRollup.objects.filter(covered, node=node)):
            acc.add(row)
    mark = marks.get(Resolution.HOUR)
    raw_from = max(start, mark) if mark else start
    if raw_from < now:
        for row in aggregate_snapshots(Snapshot.objects.filter(node=node, checked_at__gte=raw_from,
                                                               checked_at__lt=now)):
            acc.add(row)
    return acc.uptime_percent


def node_incidents(*, node: Node, limit: int = RECENT_INCIDENTS) -> list[Incident]:
    return list(Incident.objects.filter(node=node).select_related("acknowledged_by")[:limit])


def group_members(*, group: NodeGroup) -> list[Node]:
    return list(Node.objects.filter(group=group).order_by("name"))


def group_incidents(*, group: NodeGroup, limit: int = RECENT_INCIDENTS) -> list[Incident]:
    return list(Incident.objects.filter(group=group).select_related("acknowledged_by")[:limit])


def group_down_spans(*, group: NodeGroup, start: datetime, end: datetime) -> list[tuple[datetime, datetime | None]]:
    """(opened, resolved or None) of the group's incidents overlapping [start, end)."""
    return list(
        Incident.objects.filter(group=group, opened_at__lt=end)
        .filter(Q(resolved_at__isnull=True) | Q(resolved_at__gt=start))
        .order_by("opened_at").values_list("opened_at", "resolved_at")
    )


def group_uptime(*, group: NodeGroup, spans, now: datetime) -> dict[str, float | None]:
    """A group's uptime is time-based (as the API's): the share of each window, since the group
    exists, that it was not in a down incident. `spans`: group_down_spans over 30 days."""
    result = {}
    for name, length in UPTIME_WINDOWS.items():
        observed_from = max(now - length, group.created_at)
        seconds = (now - observed_from).total_seconds()
        down = _down_seconds(spans, observed_from, now)
        result[name] = round(100.0 * (seconds - down) / seconds, 3) if seconds > 0 else None
    return result


def group_online_hourly(*, group: NodeGroup, start: datetime, end: datetime) -> list[Hour]:
    """Per hour, how many of the group's current members were available on average (each
    member counts its share of successful checks that hour): the line quorum is judged by.
    Three queries (watermarks, the members' hourly rollups, the raw tail)."""
    hours = _hours(start, end)
    if not hours:
        return []
    mark = watermarks().get(Resolution.HOUR)
    per_node_hour: dict = defaultdict(lambda: [0, 0])  # (hour, node) → [checks, available]
    if mark and mark > hours[0]:
        rows = SnapshotRollup.objects.filter(
            node__group=group, resolution=Resolution.HOUR, bucket_start__gte=hours[0],
            bucket_start__lt=min(mark, end), checks__gt=0,
        ).values_list("bucket_start", "node_id", "checks", "up", "degraded")
        for hour, node_id, checks, up, degraded in rows:
            per_node_hour[(hour, node_id)] = [checks, up + degraded]
    raw_from = max(hours[0], mark) if mark else hours[0]
    raw = Snapshot.objects.filter(
        node__group=group, checked_at__gte=raw_from, checked_at__lt=end,
        status__in=(Status.UP, Status.DEGRADED, Status.DOWN),
    ).values_list("checked_at", "node_id", "status")
    for checked_at, node_id, status in raw:
        counts = per_node_hour[(floor_hour(checked_at), node_id)]
        counts[0] += 1
        counts[1] += status in AVAILABLE
    online: dict = defaultdict(float)
    checked: dict = defaultdict(int)
    for (hour, _), (checks, available) in per_node_hour.items():
        online[hour] += available / checks
        checked[hour] += checks
    return [
        Hour(start=hour, checks=checked[hour], online=round(online[hour], 2) if hour in online else None)
        for hour in hours
    ]

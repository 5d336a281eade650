"""Monitoring reads: tenant-scoped querysets, status summaries and statistics."""
from collections import defaultdict
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Count, FloatField, Max, Min, Q, Sum
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.utils import timezone

from monitoring.models import AVAILABLE, Incident, MetricRollup, Node, NodeGroup, Snapshot, SnapshotRollup, Status
from monitoring.rollups import (
    COUNTERS,
    FLOORS,
    LENGTHS,
    Accumulator,
    Resolution,
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


def snapshot_list(*, node: Node, start: datetime | None = None, end: datetime | None = None):
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
# Coarsest first: where a window's span is aligned to a level, that level's rows are used.
LEVELS = (Resolution.WEEK, Resolution.DAY, Resolution.HOUR)
WATERMARK_ATTEMPTS = 3


def rollup_spans(*, start: datetime, end: datetime, marks: dict) -> list[tuple[str, datetime, datetime]]:
    """Cover [floor_hour(start), min(hourly watermark, end)) with as few rollup rows as possible:
    (resolution, from, to) spans meaning rows of that resolution with from <= bucket_start < to.

    A level is used from a point aligned to its buckets, up to its watermark (its last row may
    be partial and ends exactly there) or, when the span ends before the watermark, up to the
    last whole bucket. A finer level only runs to the next boundary of the coarser one. So a
    30-day window reads at most 6 daily and 5 weekly rows per node at any time of day.
    Rollups have hour granularity: a window starting mid-hour includes that hour.
    """
    hour_mark = marks.get(Resolution.HOUR)
    if not hour_mark or start >= hour_mark:
        return []
    cursor, until = floor_hour(start), min(hour_mark, end)
    spans: list[list] = []
    while cursor < until:
        for index, level in enumerate(LEVELS):
            mark = marks.get(level)
            if mark is None or mark <= cursor or FLOORS[level](cursor) != cursor:
                continue
            # Hourly rows: the hour holding `until` counts whole (rollups are hour-granular).
            # Coarser rows: up to the watermark (the last row may be partial) or whole buckets.
            reach = until if level == Resolution.HOUR else mark if mark <= until else FLOORS[level](until)
            if index:  # stop where the coarser level could take over
                coarser = LEVELS[index - 1]
                reach = min(reach, FLOORS[coarser](cursor) + LENGTHS[coarser])
            if reach <= cursor:
                continue
            if spans and spans[-1][0] == level and spans[-1][2] == cursor:
                spans[-1][2] = reach
            else:
                spans.append([level, cursor, reach])
            cursor = reach
            break
        else:  # no level covers the cursor (cannot happen while the hourly watermark is ahead)
            break
    return [tuple(span) for span in spans]


def rollup_totals_sql(*, tenant: Tenant, spans) -> tuple[str, list]:
    """One statement summing the spans' rollup rows per node: one index range per span
    (UNION ALL), summed by the database. (An OR of the spans in one WHERE makes SQLite scan
    every rollup row of the tenant.)"""
    parts, params = [], []
    for resolution, span_start, span_end in spans:
        queryset = SnapshotRollup.objects.filter(
            tenant=tenant, resolution=resolution, bucket_start__gte=span_start, bucket_start__lt=span_end
        ).values_list("node_id", *COUNTERS).order_by()
        sql, span_params = queryset.query.sql_with_params()
        parts.append(sql)
        params.extend(span_params)
    quote = connection.ops.quote_name
    sums = ", ".join(f"SUM({quote(SnapshotRollup._meta.get_field(name).column)})" for name in COUNTERS)
    # Only Django-compiled SQL and quoted model column names are interpolated; values are params.
    sql = f"SELECT {quote('node_id')}, {sums} FROM ({' UNION ALL '.join(parts)}) spans GROUP BY {quote('node_id')}"  # noqa: S608
    return sql, params


def _rollup_totals(*, tenant: Tenant, spans) -> list[dict]:
    sql, params = rollup_totals_sql(tenant=tenant, spans=spans)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    to_pk = Node._meta.pk.to_python
    keys = [f"s_{name}" for name in COUNTERS]
    return [{"node_id": to_pk(row[0]), **dict(zip(keys, row[1:], strict=True))} for row in rows]


def _accumulate_once(*, tenant: Tenant, start: datetime, end: datetime, marks: dict) -> dict:
    per_node: dict = defaultdict(Accumulator)
    spans = rollup_spans(start=start, end=end, marks=marks)
    if spans:
        for row in _rollup_totals(tenant=tenant, spans=spans):
            per_node[row["node_id"]].add(row)
    hour_mark = marks.get(Resolution.HOUR)
    raw_from = max(start, hour_mark) if hour_mark else start
    if raw_from < end:
        rows = Snapshot.objects.filter(tenant=tenant, checked_at__gte=raw_from, checked_at__lt=end)
        for row in aggregate_snapshots(rows):
            per_node[row["node_id"]].add(row)
    return per_node


def _accumulate(*, tenant: Tenant, start: datetime, end: datetime) -> dict:
    """Per-node Accumulators over [start, end), aggregated by the database in two queries: the
    fewest weekly/daily/hourly rollup rows that cover the window up to the hourly watermark
    (see rollup_spans), and the raw snapshots after it.

    A rollup run moves the watermarks in the same transaction as it rewrites the (partial)
    rows, so if the watermarks are unchanged after reading, nothing was counted twice or
    missed; otherwise the read is repeated."""
    marks = watermarks()
    for _ in range(WATERMARK_ATTEMPTS):
        per_node = _accumulate_once(tenant=tenant, start=start, end=end, marks=marks)
        current = watermarks()
        if current == marks:
            break
        marks = current
    return per_node


def _group_incidents(*, tenant: Tenant, start: datetime, end: datetime) -> defaultdict:
    """(opened_at, resolved_at) of the tenant's group incidents overlapping [start, end), by group id."""
    by_group = defaultdict(list)
    overlapping = Incident.objects.for_tenant(tenant).filter(group__isnull=False, opened_at__lt=end).filter(
        Q(resolved_at__isnull=True) | Q(resolved_at__gt=start)
    )
    for group_id, opened, resolved in overlapping.values_list("group_id", "opened_at", "resolved_at"):
        by_group[group_id].append((opened, resolved))
    return by_group


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
    incidents_by_group = _group_incidents(tenant=tenant, start=start, end=now)
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
    incidents = _group_incidents(tenant=tenant, start=start, end=end)
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



# --- Check metrics --------------------------------------------------------------------------
def _metric_rollup_totals(*, tenant: Tenant, name: str, spans) -> list[tuple]:
    """(node_id, samples, total, minimum, maximum) of one metric over the spans' rollup rows:
    one index range per span (UNION ALL, as for uptime), aggregated by the database."""
    parts, params = [], []
    for resolution, span_start, span_end in spans:
        queryset = MetricRollup.objects.filter(
            tenant=tenant, name=name, resolution=resolution, bucket_start__gte=span_start, bucket_start__lt=span_end
        ).values_list("node_id", "samples", "total", "minimum", "maximum").order_by()
        sql, span_params = queryset.query.sql_with_params()
        parts.append(sql)
        params.extend(span_params)
    q = connection.ops.quote_name
    # Only Django-compiled SQL and quoted model column names are interpolated; values are params.
    sql = (f"SELECT {q('node_id')}, SUM({q('samples')}), SUM({q('total')}), MIN({q('minimum')}), "  # noqa: S608
           f"MAX({q('maximum')}) FROM ({' UNION ALL '.join(parts)}) spans GROUP BY {q('node_id')}")
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    to_pk = Node._meta.pk.to_python
    return [(to_pk(row[0]), *row[1:]) for row in rows]


def _metric_raw_totals(*, tenant: Tenant, name: str, start: datetime, end: datetime) -> list[tuple]:
    """The same totals over raw snapshots (the part of a window after the hourly watermark)."""
    value = Cast(KeyTextTransform(name, "metrics"), FloatField())
    return list(
        Snapshot.objects.filter(tenant=tenant, checked_at__gte=start, checked_at__lt=end, metrics__has_key=name)
        .values("node_id")
        .annotate(samples=Count("pk"), total=Sum(value), minimum=Min(value), maximum=Max(value))
        .order_by()
        .values_list("node_id", "samples", "total", "minimum", "maximum")
    )


def _metric_totals_once(*, tenant: Tenant, name: str, start: datetime, end: datetime, marks: dict) -> dict:
    per_node: dict = {}
    spans = rollup_spans(start=start, end=end, marks=marks)
    hour_mark = marks.get(Resolution.HOUR)
    raw_from = max(start, hour_mark) if hour_mark else start
    parts = _metric_rollup_totals(tenant=tenant, name=name, spans=spans) if spans else []
    if raw_from < end:
        parts += _metric_raw_totals(tenant=tenant, name=name, start=raw_from, end=end)
    for node_id, samples, total, minimum, maximum in parts:
        _merge(per_node, node_id, samples, total, minimum, maximum)
    return per_node


def _merge(totals: dict, key, samples: int, total: float, minimum: float, maximum: float) -> None:
    current = totals.get(key)
    if current is None:
        totals[key] = [samples, total, minimum, maximum]
    else:
        current[0] += samples
        current[1] += total
        current[2] = min(current[2], minimum)
        current[3] = max(current[3], maximum)


def metric_statistics(*, tenant: Tenant, name: str, window: str, group_by: str = "node",
                      now: datetime | None = None) -> dict:
    """One metric's latest value, minimum, maximum, average and sample count per node (or per
    group: over all its members' samples) in the window. Like uptime, a window reads the fewest
    rollup rows that cover it plus the raw snapshots after the hourly watermark, so 30 days cost
    about what one hour does.

    `latest` is the node's latest recorded value (null when the window holds no sample); a
    group's is the largest of its members' (for a queue: the member furthest behind). Nodes
    appear when they declare the metric or recorded it in the window."""
    now = now or timezone.now()
    start = now - UPTIME_WINDOWS[window]
    if UPTIME_WINDOWS[window] >= timedelta(days=7):
        start = floor_day(start)  # as uptime: whole daily rollups for long windows
    marks = watermarks()
    for _ in range(WATERMARK_ATTEMPTS):
        per_node = _metric_totals_once(tenant=tenant, name=name, start=start, end=now, marks=marks)
        current = watermarks()
        if current == marks:
            break
        marks = current
    nodes = [
        (pk, node_name, group_id, last.get(name))
        for pk, node_name, group_id, declared, last in Node.objects.for_tenant(tenant)
        .values_list("pk", "name", "group_id", "metrics", "last_metrics").order_by("name")
        if name in declared or pk in per_node
    ]
    if group_by == "node":
        results = [_metric_row("node_id", pk, node_name, per_node.get(pk), latest)
                   for pk, node_name, _, latest in nodes]
    else:
        per_group: dict = {}
        latest_by_group: dict = {}
        for pk, _, group_id, latest in nodes:
            if group_id is None:
                continue
            latest_by_group.setdefault(group_id, None)
            if pk in per_node:
                _merge(per_group, group_id, *per_node[pk])
                current = latest_by_group[group_id]
                if latest is not None and (current is None or latest > current):
                    latest_by_group[group_id] = latest
        groups = NodeGroup.objects.for_tenant(tenant).filter(pk__in=list(latest_by_group)).order_by("name")
        results = [_metric_row("group_id", group.pk, group.name, per_group.get(group.pk),
                               latest_by_group[group.pk]) for group in groups.only("pk", "name")]
    return {"name": name, "window": window, "from": start, "to": now, "results": results}


def _metric_row(key: str, pk, label: str, totals, latest) -> dict:
    samples, total, minimum, maximum = totals or (0, 0.0, None, None)
    return {
        key: str(pk),
        "name": label,
        "latest": latest if samples else None,
        "min": minimum,
        "max": maximum,
        "avg": round(total / samples, 6) if samples else None,
        "samples": samples,
    }

"""Rolling check metrics up beside the uptime rollups: one MetricRollup row per node, metric
and bucket (samples, total, minimum, maximum, last), written by rollups.py in the same
transaction as the bucket's SnapshotRollup rows, so both share the watermarks and a window's
statistics read the same spans of rollup rows (see selectors.metric_statistics).
"""
from datetime import datetime

from django.db.models import Max, Min, OuterRef, Subquery, Sum

from monitoring.models import MetricRollup, Snapshot


def _replace(resolution: str, start: datetime, rows: list[MetricRollup]) -> None:
    # Re-rolling a bucket replaces it, as for the uptime rollups: idempotent.
    MetricRollup.objects.filter(resolution=resolution, bucket_start=start).delete()
    MetricRollup.objects.bulk_create(rows, batch_size=1000)


def metrics_roll_hour(start: datetime, end: datetime, resolution: str) -> int:
    """Hourly rows from the raw snapshots of [start, end) that carry metrics.

    The metrics are JSON objects of any names, so they are summed here rather than by the
    database (which would need a backend-specific JSON expansion); one query, in time order so
    the last sample seen is the bucket's `last`."""
    per_key: dict[tuple, list] = {}
    rows = (
        Snapshot.objects.filter(checked_at__gte=start, checked_at__lt=end, metrics__isnull=False)
        .order_by("checked_at")
        .values_list("tenant_id", "node_id", "metrics")
    )
    for tenant_id, node_id, metrics in rows.iterator(chunk_size=5000):
        for name, value in metrics.items():
            acc = per_key.get((node_id, name))
            if acc is None:
                per_key[(node_id, name)] = [tenant_id, 1, value, value, value, value]
                continue
            acc[1] += 1
            acc[2] += value
            acc[3] = min(acc[3], value)
            acc[4] = max(acc[4], value)
            acc[5] = value
    objects = [
        MetricRollup(tenant_id=tenant_id, node_id=node_id, name=name, resolution=resolution, bucket_start=start,
                     samples=samples, total=total, minimum=minimum, maximum=maximum, last=last)
        for (node_id, name), (tenant_id, samples, total, minimum, maximum, last) in per_key.items()
    ]
    _replace(resolution, start, objects)
    return len(objects)


def metrics_roll_coarse(*, source: str, resolution: str, start: datetime, end: datetime) -> int:
    """A coarse bucket's rows from the finer level's rows with start <= bucket_start < end,
    aggregated by the database; `last` is the latest finer row's."""
    finer = MetricRollup.objects.filter(resolution=source, bucket_start__gte=start, bucket_start__lt=end)
    latest = finer.filter(node_id=OuterRef("node_id"), name=OuterRef("name")).order_by("-bucket_start")
    sums = (
        finer.values("tenant_id", "node_id", "name")
        .annotate(samples_=Sum("samples"), total_=Sum("total"), minimum_=Min("minimum"), maximum_=Max("maximum"),
                  last_=Subquery(latest.values("last")[:1]))
        .order_by()
    )
    objects = [
        MetricRollup(tenant_id=row["tenant_id"], node_id=row["node_id"], name=row["name"], resolution=resolution,
                     bucket_start=start, samples=row["samples_"], total=row["total_"], minimum=row["minimum_"],
                     maximum=row["maximum_"], last=row["last_"])
        for row in sums
    ]
    _replace(resolution, start, objects)
    return len(objects)

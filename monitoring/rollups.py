"""Rolling raw snapshots up into hourly, daily and weekly rows (uptime counters here, check
metrics beside them in metric_rollups.py), and purging old raw snapshots.

Uptime and latency over any window then read at most: daily rows for whole days, hourly rows
for the hours around them, and raw snapshots newer than the hourly watermark. A 30-day query
touches ~30 + 48 rows per node instead of 43,200 snapshots.
"""
import bisect
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Case, Count, IntegerField, Q, Sum, Value, When
from django.utils import timezone

from monitoring.metric_rollups import metrics_roll_coarse, metrics_roll_hour
from monitoring.models import AVAILABLE, RollupWatermark, Snapshot, SnapshotRollup, Status

# Upper bounds (ms) of the latency histogram; the last bucket is open-ended.
LATENCY_BUCKETS_MS = (5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 10000)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
WEEK = timedelta(days=7)
Resolution = SnapshotRollup.Resolution


def floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def floor_day(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def floor_week(moment: datetime) -> datetime:
    """Monday 00:00 UTC of the (ISO) week."""
    return floor_day(moment) - timedelta(days=moment.weekday())


FLOORS = {Resolution.HOUR: floor_hour, Resolution.DAY: floor_day, Resolution.WEEK: floor_week}
LENGTHS = {Resolution.HOUR: HOUR, Resolution.DAY: DAY, Resolution.WEEK: WEEK}
# Coarse level → (the finer level it is summed from, its floor, its bucket length).
COARSE_LEVELS = {
    Resolution.DAY: (Resolution.HOUR, floor_day, DAY),
    Resolution.WEEK: (Resolution.DAY, floor_week, WEEK),
}


HISTOGRAM_FIELDS = [f"lat_b{index:02d}" for index in range(len(LATENCY_BUCKETS_MS) + 1)]
COUNTERS = ["checks", "up", "degraded", "down", "latency_sum_ms", *HISTOGRAM_FIELDS]


def bucket_index(latency_ms: float) -> int:
    return bisect.bisect_left(LATENCY_BUCKETS_MS, latency_ms)


def empty_histogram() -> list[int]:
    return [0] * len(HISTOGRAM_FIELDS)


def percentile(histogram: list[int], fraction: float) -> float | None:
    """Estimate a percentile from a bucket histogram by interpolating inside the bucket."""
    total = sum(histogram)
    if not total:
        return None
    rank = fraction * total
    seen = 0
    for index, count in enumerate(histogram):
        if count and seen + count >= rank:
            lower = LATENCY_BUCKETS_MS[index - 1] if index else 0
            if index >= len(LATENCY_BUCKETS_MS):
                return float(lower)
            upper = LATENCY_BUCKETS_MS[index]
            return round(lower + (upper - lower) * (rank - seen) / count, 1)
        seen += count
    return float(LATENCY_BUCKETS_MS[-1])


def _bucket_case() -> Case:
    """The histogram bucket of a successful check's latency (same edges as bucket_index);
    NULL for failed checks and checks without a latency, which no bucket counts."""
    available = Q(status__in=AVAILABLE, latency_ms__isnull=False)
    whens = [When(latency_ms__lte=edge, then=Value(index)) for index, edge in enumerate(LATENCY_BUCKETS_MS)]
    return Case(When(~available, then=Value(None)), *whens, default=Value(len(LATENCY_BUCKETS_MS)),
                output_field=IntegerField())


def snapshot_counts(queryset):
    """Raw snapshots counted per (node, status, latency bucket) by the database: one CASE per
    row instead of one conditional COUNT per bucket; usually 1–3 rows per node."""
    return (
        queryset.values("tenant_id", "node_id", "status", bucket=_bucket_case())
        .annotate(n=Count("pk"), latency_sum=Sum("latency_ms"))
        .order_by()
    )


def aggregate_snapshots(queryset) -> list[dict]:
    """Per-node counters of raw snapshots (`s_<counter>` keys, one dict per node)."""
    per_node: dict = {}
    for row in snapshot_counts(queryset):
        key = row["node_id"]
        counters = per_node.get(key)
        if counters is None:
            counters = per_node[key] = {"tenant_id": row["tenant_id"], "node_id": key, "s_latency_sum_ms": 0.0,
                                        **dict.fromkeys((f"s_{name}" for name in COUNTERS[:4]), 0),
                                        **dict.fromkeys((f"s_{name}" for name in HISTOGRAM_FIELDS), 0)}
        status, count = row["status"], row["n"]
        if status in (Status.UP, Status.DEGRADED, Status.DOWN):
            # Only real results count: a check the guard refused (`unknown`) measured nothing.
            counters["s_checks"] += count
            counters[f"s_{status}"] += count
        if status in AVAILABLE:
            counters["s_latency_sum_ms"] += row["latency_sum"] or 0.0
        if row["bucket"] is not None:
            counters[f"s_{HISTOGRAM_FIELDS[row['bucket']]}"] += count
    return list(per_node.values())


def rollup_sums(queryset):
    """Per-node sums of rollup rows as a queryset the database aggregates (one row per node)."""
    return queryset.values("tenant_id", "node_id").annotate(**{f"s_{name}": Sum(name) for name in COUNTERS}).order_by()


def aggregate_rollups(queryset) -> list[dict]:
    """Per-node sums of rollup rows, computed by the database (one row per node)."""
    return list(rollup_sums(queryset))


class Accumulator:
    """Counters of one node (or group) over some span, merged from aggregate rows."""

    __slots__ = ("checks", "up", "degraded", "down", "latency_sum_ms", "histogram")

    def __init__(self) -> None:
        self.checks = self.up = self.degraded = self.down = 0
        self.latency_sum_ms = 0.0
        self.histogram = empty_histogram()

    def add(self, row: dict) -> None:
        """Add an aggregate row (`s_<counter>` keys, as aggregate_* return)."""
        self.checks += row["s_checks"] or 0
        self.up += row["s_up"] or 0
        self.degraded += row["s_degraded"] or 0
        self.down += row["s_down"] or 0
        self.latency_sum_ms += row["s_latency_sum_ms"] or 0.0
        for index, name in enumerate(HISTOGRAM_FIELDS):
            self.histogram[index] += row[f"s_{name}"] or 0

    def merge(self, other: "Accumulator") -> None:
        self.checks += other.checks
        self.up += other.up
        self.degraded += other.degraded
        self.down += other.down
        self.latency_sum_ms += other.latency_sum_ms
        for index, count in enumerate(other.histogram):
            self.histogram[index] += count

    def as_fields(self) -> dict:
        return {
            "checks": self.checks, "up": self.up, "degraded": self.degraded, "down": self.down,
            "latency_sum_ms": self.latency_sum_ms, **dict(zip(HISTOGRAM_FIELDS, self.histogram, strict=True)),
        }

    @property
    def uptime_percent(self) -> float | None:
        if not self.checks:
            return None
        return round(100.0 * (self.up + self.degraded) / self.checks, 3)


def _watermark(resolution: str) -> datetime | None:
    row = RollupWatermark.objects.filter(resolution=resolution).first()
    return row.until if row else None


def watermarks() -> dict[str, datetime]:
    """Resolution → watermark: that level's rows cover everything before it (the hourly one:
    raw snapshots before it have been rolled up; the daily and weekly ones: their last row is
    partial, covering its bucket up to the watermark)."""
    return dict(RollupWatermark.objects.values_list("resolution", "until"))


def _replace_rollups(resolution: str, start: datetime, rows: list[dict]) -> int:
    # Re-rolling a bucket (late snapshots, a crashed run) replaces it: idempotent.
    SnapshotRollup.objects.filter(resolution=resolution, bucket_start=start).delete()
    objects = []
    for row in rows:
        acc = Accumulator()
        acc.add(row)
        objects.append(SnapshotRollup(tenant_id=row["tenant_id"], node_id=row["node_id"], resolution=resolution,
                                      bucket_start=start, **acc.as_fields()))
    SnapshotRollup.objects.bulk_create(objects, batch_size=1000)
    return len(objects)


@transaction.atomic
def _roll_hour(start: datetime) -> int:
    end = start + HOUR
    rows = aggregate_snapshots(Snapshot.objects.filter(checked_at__gte=start, checked_at__lt=end))
    count = _replace_rollups(Resolution.HOUR, start, rows)
    metrics_roll_hour(start, end, Resolution.HOUR)
    RollupWatermark.objects.update_or_create(resolution=Resolution.HOUR, defaults={"until": end})
    return count


@transaction.atomic
def _roll_coarse(resolution: str, mark: datetime | None, until: datetime) -> int:
    """(Re)write the `resolution` rows of every bucket touching [mark, until) from the next finer
    level's rows, then move its watermark to `until`; returns the number of buckets written.

    `until` is the hourly watermark, so the current day's and week's rows are partial (they
    cover their bucket up to the watermark) and are rewritten as hours complete. Rows and
    watermark change in one transaction; readers re-check the watermarks (see selectors).
    """
    source, floor, length = COARSE_LEVELS[resolution]
    bucket = floor(mark) if mark is not None else None
    if bucket is None:
        first = SnapshotRollup.objects.filter(resolution=source).order_by("bucket_start").first()
        bucket = floor(first.bucket_start) if first else floor(until)
    buckets = 0
    while bucket < until:
        rows = aggregate_rollups(
            SnapshotRollup.objects.filter(
                resolution=source, bucket_start__gte=bucket, bucket_start__lt=min(bucket + length, until)
            )
        )
        _replace_rollups(resolution, bucket, rows)
        metrics_roll_coarse(source=source, resolution=resolution, start=bucket, end=min(bucket + length, until))
        bucket += length
        buckets += 1
    RollupWatermark.objects.update_or_create(resolution=resolution, defaults={"until": until})
    return buckets


def snapshots_rollup(*, now: datetime | None = None) -> dict:
    """Roll every complete hour not yet rolled up, then bring the daily and weekly rows up to
    the hourly watermark (the current day and week as partial rows).

    Returns how many hourly, daily and weekly buckets were (re)written.
    """
    now = now or timezone.now()
    hours = 0
    hour_mark = _watermark(Resolution.HOUR)
    if hour_mark is None:
        first = Snapshot.objects.order_by("checked_at").values_list("checked_at", flat=True).first()
        hour_mark = floor_hour(first) if first else floor_hour(now)
    while hour_mark + HOUR <= now:  # only complete hours
        _roll_hour(hour_mark)
        hour_mark += HOUR
        hours += 1
    RollupWatermark.objects.get_or_create(resolution=Resolution.HOUR, defaults={"until": hour_mark})
    written = {"hours": hours}
    for resolution, key in ((Resolution.DAY, "days"), (Resolution.WEEK, "weeks")):
        mark = _watermark(resolution)
        written[key] = 0 if mark is not None and mark >= hour_mark else _roll_coarse(resolution, mark, hour_mark)
    return written


def snapshots_purge(*, now: datetime | None = None) -> int:
    """Delete raw snapshots past retention — but never any not yet rolled up."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.MONITORING_RAW_RETENTION_DAYS)
    hour_mark = _watermark(Resolution.HOUR)
    if hour_mark is None:
        return 0
    deleted, _ = Snapshot.objects.filter(checked_at__lt=min(cutoff, hour_mark)).delete()
    return deleted

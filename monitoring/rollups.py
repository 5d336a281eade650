"""Rolling raw snapshots up into hourly and daily rows, and purging old raw snapshots.

Uptime and latency over any window then read at most: daily rows for whole days, hourly rows
for the hours around them, and raw snapshots newer than the hourly watermark. A 30-day query
touches ~30 + 48 rows per node instead of 43,200 snapshots.
"""
import bisect
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from monitoring.models import AVAILABLE, RollupWatermark, Snapshot, SnapshotRollup, Status

# Upper bounds (ms) of the latency histogram; the last bucket is open-ended.
LATENCY_BUCKETS_MS = (5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 10000)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
Resolution = SnapshotRollup.Resolution


def floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def floor_day(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


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


def _bucket_filter(index: int) -> Q:
    """Successful checks whose latency falls in bucket `index` (same edges as bucket_index)."""
    condition = Q(status__in=AVAILABLE, latency_ms__isnull=False)
    if index > 0:
        condition &= Q(latency_ms__gt=LATENCY_BUCKETS_MS[index - 1])
    if index < len(LATENCY_BUCKETS_MS):
        condition &= Q(latency_ms__lte=LATENCY_BUCKETS_MS[index])
    return condition


def aggregate_snapshots(queryset) -> list[dict]:
    """Per-node counters of raw snapshots, computed by the database (one row per node)."""
    return list(
        queryset.values("tenant_id", "node_id")
        .annotate(
            s_checks=Count("pk"),
            s_up=Count("pk", filter=Q(status=Status.UP)),
            s_degraded=Count("pk", filter=Q(status=Status.DEGRADED)),
            s_down=Count("pk", filter=Q(status=Status.DOWN)),
            s_latency_sum_ms=Coalesce(Sum("latency_ms", filter=Q(status__in=AVAILABLE)), Value(0.0)),
            **{f"s_{name}": Count("pk", filter=_bucket_filter(i)) for i, name in enumerate(HISTOGRAM_FIELDS)},
        )
        .order_by()
    )


def aggregate_rollups(queryset) -> list[dict]:
    """Per-node sums of rollup rows, computed by the database (one row per node)."""
    return list(
        queryset.values("tenant_id", "node_id").annotate(**{f"s_{name}": Sum(name) for name in COUNTERS}).order_by()
    )


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


def watermarks() -> tuple[datetime | None, datetime | None]:
    """(hourly, daily) watermarks: raw snapshots before them have been rolled up."""
    rows = dict(RollupWatermark.objects.values_list("resolution", "until"))
    return rows.get(Resolution.HOUR), rows.get(Resolution.DAY)


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
    RollupWatermark.objects.update_or_create(resolution=Resolution.HOUR, defaults={"until": end})
    return count


@transaction.atomic
def _roll_day(start: datetime) -> int:
    end = start + DAY
    rows = aggregate_rollups(
        SnapshotRollup.objects.filter(resolution=Resolution.HOUR, bucket_start__gte=start, bucket_start__lt=end)
    )
    count = _replace_rollups(Resolution.DAY, start, rows)
    RollupWatermark.objects.update_or_create(resolution=Resolution.DAY, defaults={"until": end})
    return count


def snapshots_rollup(*, now: datetime | None = None) -> dict:
    """Roll every complete hour (then every complete day) not yet rolled up."""
    now = now or timezone.now()
    hours = days = 0
    hour_mark = _watermark(Resolution.HOUR)
    if hour_mark is None:
        first = Snapshot.objects.order_by("checked_at").values_list("checked_at", flat=True).first()
        hour_mark = floor_hour(first) if first else floor_hour(now)
    while hour_mark + HOUR <= now:  # only complete hours
        _roll_hour(hour_mark)
        hour_mark += HOUR
        hours += 1
    RollupWatermark.objects.get_or_create(resolution=Resolution.HOUR, defaults={"until": hour_mark})
    day_mark = _watermark(Resolution.DAY)
    if day_mark is None:
        first = SnapshotRollup.objects.filter(resolution=Resolution.HOUR).order_by("bucket_start").first()
        day_mark = floor_day(first.bucket_start) if first else floor_day(hour_mark)
    while day_mark + DAY <= hour_mark:
        _roll_day(day_mark)
        day_mark += DAY
        days += 1
    RollupWatermark.objects.get_or_create(resolution=Resolution.DAY, defaults={"until": day_mark})
    return {"hours": hours, "days": days}


def snapshots_purge(*, now: datetime | None = None) -> int:
    """Delete raw snapshots past retention — but never any not yet rolled up."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.MONITORING_RAW_RETENTION_DAYS)
    hour_mark = _watermark(Resolution.HOUR)
    if hour_mark is None:
        return 0
    deleted, _ = Snapshot.objects.filter(checked_at__lt=min(cutoff, hour_mark)).delete()
    return deleted

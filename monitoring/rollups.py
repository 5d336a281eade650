"""Rolling raw snapshots up into hourly and daily rows, and purging old raw snapshots.

Uptime and latency over any window then read at most: daily rows for whole days, hourly rows
for the hours around them, and raw snapshots newer than the hourly watermark. A 30-day query
touches ~30 + 48 rows per node instead of 43,200 snapshots.
"""
import bisect
from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from monitoring.models import RollupWatermark, Snapshot, SnapshotRollup, Status

# Upper bounds (ms) of the latency histogram; the last bucket is open-ended.
LATENCY_BUCKETS_MS = (5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 10000)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
Resolution = SnapshotRollup.Resolution


def floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def floor_day(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def bucket_index(latency_ms: float) -> int:
    return bisect.bisect_left(LATENCY_BUCKETS_MS, latency_ms)


def empty_histogram() -> list[int]:
    return [0] * (len(LATENCY_BUCKETS_MS) + 1)


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


class Accumulator:
    """Counts of one node over some span; merges snapshots and rollup rows alike."""

    __slots__ = ("checks", "up", "degraded", "down", "latency_sum_ms", "histogram")

    def __init__(self) -> None:
        self.checks = self.up = self.degraded = self.down = 0
        self.latency_sum_ms = 0.0
        self.histogram = empty_histogram()

    def add_snapshot(self, status: str, latency_ms: float | None) -> None:
        self.checks += 1
        if status == Status.DOWN:
            self.down += 1
            return
        if status == Status.DEGRADED:
            self.degraded += 1
        else:
            self.up += 1
        if latency_ms is not None:
            self.latency_sum_ms += latency_ms
            self.histogram[bucket_index(latency_ms)] += 1

    def add_rollup(self, checks, up, degraded, down, latency_sum_ms, histogram) -> None:
        self.checks += checks
        self.up += up
        self.degraded += degraded
        self.down += down
        self.latency_sum_ms += latency_sum_ms
        for index, count in enumerate(histogram[: len(self.histogram)]):
            self.histogram[index] += count

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


@transaction.atomic
def _roll_hour(start: datetime) -> int:
    end = start + HOUR
    accumulators: dict[tuple, Accumulator] = defaultdict(Accumulator)
    rows = Snapshot.objects.filter(checked_at__gte=start, checked_at__lt=end).values_list(
        "tenant_id", "node_id", "status", "latency_ms"
    )
    for tenant_id, node_id, status, latency in rows.iterator(chunk_size=5000):
        accumulators[(tenant_id, node_id)].add_snapshot(status, latency)
    # Re-rolling an hour (late snapshots, a crashed run) replaces it: idempotent.
    SnapshotRollup.objects.filter(resolution=Resolution.HOUR, bucket_start=start).delete()
    SnapshotRollup.objects.bulk_create(
        [
            SnapshotRollup(
                tenant_id=tenant_id, node_id=node_id, resolution=Resolution.HOUR, bucket_start=start,
                checks=acc.checks, up=acc.up, degraded=acc.degraded, down=acc.down,
                latency_sum_ms=acc.latency_sum_ms, latency_histogram=acc.histogram,
            )
            for (tenant_id, node_id), acc in accumulators.items()
        ],
        batch_size=1000,
    )
    RollupWatermark.objects.update_or_create(resolution=Resolution.HOUR, defaults={"until": end})
    return len(accumulators)


@transaction.atomic
def _roll_day(start: datetime) -> int:
    end = start + DAY
    accumulators: dict[tuple, Accumulator] = defaultdict(Accumulator)
    rows = SnapshotRollup.objects.filter(
        resolution=Resolution.HOUR, bucket_start__gte=start, bucket_start__lt=end
    ).values_list("tenant_id", "node_id", "checks", "up", "degraded", "down", "latency_sum_ms", "latency_histogram")
    for tenant_id, node_id, *counts in rows.iterator(chunk_size=5000):
        accumulators[(tenant_id, node_id)].add_rollup(*counts)
    SnapshotRollup.objects.filter(resolution=Resolution.DAY, bucket_start=start).delete()
    SnapshotRollup.objects.bulk_create(
        [
            SnapshotRollup(
                tenant_id=tenant_id, node_id=node_id, resolution=Resolution.DAY, bucket_start=start,
                checks=acc.checks, up=acc.up, degraded=acc.degraded, down=acc.down,
                latency_sum_ms=acc.latency_sum_ms, latency_histogram=acc.histogram,
            )
            for (tenant_id, node_id), acc in accumulators.items()
        ],
        batch_size=1000,
    )
    RollupWatermark.objects.update_or_create(resolution=Resolution.DAY, defaults={"until": end})
    return len(accumulators)


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

"""Rollups, retention and the statistics endpoints built on them."""
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from monitoring import rollups
from monitoring.models import Incident, RollupWatermark, Snapshot, SnapshotRollup, Status
from monitoring.selectors import uptime_statistics
from tests.monitoring.factories import NodeFactory, NodeGroupFactory

pytestmark = pytest.mark.django_db


def fill(node, *, start, hours: int, every_minutes: int = 10, down_every: int = 0, latency: float = 40.0):
    """Snapshots every few minutes for `hours`; every `down_every`-th one failed."""
    rows = []
    steps = hours * 60 // every_minutes
    for i in range(steps):
        failed = down_every and i % down_every == 0
        rows.append(Snapshot(tenant=node.tenant, node=node, checked_at=start + timedelta(minutes=i * every_minutes),
                             status=Status.DOWN if failed else Status.UP, latency_ms=None if failed else latency))
    Snapshot.objects.bulk_create(rows)
    return len(rows)


def test_rollups_summarise_complete_hours_and_days_idempotently(tenant):
    node = NodeFactory(tenant=tenant)
    start = datetime(2026, 3, 1, tzinfo=UTC)
    fill(node, start=start, hours=50, down_every=4)  # 2 days + 2 hours, every 10 min
    now = start + timedelta(hours=50, minutes=30)
    # Days and weeks are rolled up to the hourly watermark: 2 whole days and the partial third,
    # and the partial weeks of Feb 23 (Sunday, March 1) and March 2.
    assert rollups.snapshots_rollup(now=now) == {"hours": 50, "days": 3, "weeks": 2}
    hour = SnapshotRollup.objects.get(node=node, resolution="hour", bucket_start=start)
    assert (hour.checks, hour.up, hour.down) == (6, 4, 2)
    assert hour.latency_sum_ms == 4 * 40.0
    day = SnapshotRollup.objects.get(node=node, resolution="day", bucket_start=start)
    assert (day.checks, day.up, day.down) == (144, 108, 36)
    partial_day = SnapshotRollup.objects.get(node=node, resolution="day", bucket_start=start + timedelta(days=2))
    assert partial_day.checks == 12  # 00:00–02:00
    week = SnapshotRollup.objects.get(node=node, resolution="week", bucket_start=start + timedelta(days=1))
    assert (week.checks, week.up, week.down) == (144 + 12, 108 + 9, 36 + 3)
    first_week = SnapshotRollup.objects.get(node=node, resolution="week", bucket_start=start - timedelta(days=6))
    assert first_week.checks == 144
    assert dict(RollupWatermark.objects.values_list("resolution", "until")) == {
        "hour": start + timedelta(hours=50), "day": start + timedelta(hours=50), "week": start + timedelta(hours=50)
    }
    # Running again does nothing new, and never duplicates rows.
    assert rollups.snapshots_rollup(now=now) == {"hours": 0, "days": 0, "weeks": 0}
    assert SnapshotRollup.objects.filter(resolution="hour").count() == 50


def test_uptime_from_rollups_matches_uptime_from_raw_snapshots(tenant):
    node = NodeFactory(tenant=tenant)
    now = timezone.now().replace(minute=30, second=0, microsecond=0)
    start = now - timedelta(days=8)
    fill(node, start=start, hours=8 * 24, down_every=5)
    raw = {r["name"]: r for r in uptime_statistics(tenant=tenant, window="7d", now=now)["results"]}
    rollups.snapshots_rollup(now=now)
    rolled = {r["name"]: r for r in uptime_statistics(tenant=tenant, window="7d", now=now)["results"]}
    assert abs(raw[node.name]["uptime_percent"] - 80.0) < 0.1
    # Rollups are hour-granular: the window's first (partial) hour is counted whole.
    assert abs(rolled[node.name]["uptime_percent"] - 80.0) < 0.5
    assert abs(rolled[node.name]["checks"] - raw[node.name]["checks"]) <= 6
    assert rolled[node.name]["p50_ms"] == raw[node.name]["p50_ms"]


def test_purge_keeps_raw_snapshots_that_are_not_rolled_up(tenant, settings):
    settings.MONITORING_RAW_RETENTION_DAYS = 1
    node = NodeFactory(tenant=tenant)
    now = timezone.now()
    fill(node, start=rollups.floor_hour(now) - timedelta(days=3), hours=24)
    assert rollups.snapshots_purge(now=now) == 0  # nothing rolled up yet: nothing may go
    rollups.snapshots_rollup(now=now)
    assert rollups.snapshots_purge(now=now) == 144
    assert SnapshotRollup.objects.filter(resolution="hour").count() == 24  # kept


def test_percentiles_are_estimated_within_their_latency_bucket():
    histogram = rollups.empty_histogram()
    for latency in [12.0] * 50 + [180.0] * 45 + [900.0] * 5:
        histogram[rollups.bucket_index(latency)] += 1
    assert 10 <= rollups.percentile(histogram, 0.5) <= 20
    assert 150 <= rollups.percentile(histogram, 0.95) <= 200
    assert rollups.percentile(rollups.empty_histogram(), 0.5) is None


def test_the_uptime_endpoint_reports_nodes_and_groups(ops, tenant):
    group = NodeGroupFactory(tenant=tenant, min_online=1)
    node = NodeFactory(tenant=tenant, group=group)
    now = timezone.now()
    fill(node, start=now - timedelta(hours=10), hours=10, down_every=10)
    # The group was down for 1 of the last 24 hours.
    Incident.objects.create(tenant=tenant, group=group, title="g down", opened_at=now - timedelta(hours=3),
                            resolved_at=now - timedelta(hours=2), state="resolved")
    # Created two days ago, so the whole window is observed.
    type(group).objects.filter(pk=group.pk).update(created_at=now - timedelta(days=2))
    body = ops.get("/api/v1/statistics/uptime?window=24h").json()
    assert body["window"] == "24h"
    by_key = {r.get("node_id") or r.get("group_id"): r for r in body["results"]}
    assert by_key[str(node.pk)]["uptime_percent"] == 90.0
    assert by_key[str(node.pk)]["checks"] == 60
    assert 30 <= by_key[str(node.pk)]["p50_ms"] <= 50
    group_row = by_key[str(group.pk)]
    assert abs(group_row["uptime_percent"] - 100 * 23 / 24) < 0.1
    assert group_row["checks"] == 60
    assert ops.get("/api/v1/statistics/uptime?window=1y").status_code == 400


def test_group_statistics_bucket_the_groups_health(ops, tenant):
    group = NodeGroupFactory(tenant=tenant)
    type(group).objects.filter(pk=group.pk).update(created_at=datetime(2026, 1, 1, tzinfo=UTC))
    Incident.objects.create(tenant=tenant, group=group, title="g down", state="resolved",
                            opened_at=datetime(2026, 2, 1, 1, 30, tzinfo=UTC),
                            resolved_at=datetime(2026, 2, 1, 2, 0, tzinfo=UTC))
    body = ops.get("/api/v1/statistics/groups",
                   {"from": "2026-02-01T00:00:00Z", "to": "2026-02-01T03:00:00Z", "bucket": "1h"}).json()
    assert body["bucket_seconds"] == 3600
    [row] = body["results"]
    assert [b["uptime_percent"] for b in row["buckets"]] == [100.0, 50.0, 100.0]
    assert row["buckets"][1]["down_seconds"] == 1800
    too_many = ops.get("/api/v1/statistics/groups", {"from": "2026-01-01T00:00:00Z", "to": "2026-03-01T00:00:00Z",
                                                     "bucket": "1m"})
    assert too_many.status_code == 400

"""Check metrics over time: rollups beside the uptime rollups, and
`GET /api/v1/statistics/metrics` reading them (the same answer before and after a rollup)."""
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from monitoring import rollups
from monitoring.models import MetricRollup, Snapshot, Status
from monitoring.selectors import metric_statistics
from tenants.policy import Action
from tests.conftest import bearer_client
from tests.matrix import Case, PermissionMatrix
from tests.monitoring.factories import NodeFactory, NodeGroupFactory

pytestmark = pytest.mark.django_db

NAME = "BNB Chain.wrapsToSign"
METRICS = {NAME: "networks.BNB Chain.wrapsToSign"}


def fill(node, *, start, hours: int, every_minutes: int = 10, value=lambda i: float(i % 7), name: str = NAME):
    """Snapshots every few minutes carrying the metric; returns [(checked_at, value)]."""
    rows, samples = [], []
    for i in range(hours * 60 // every_minutes):
        at = start + timedelta(minutes=i * every_minutes)
        samples.append((at, value(i)))
        rows.append(Snapshot(tenant=node.tenant, node=node, checked_at=at, status=Status.UP, latency_ms=20.0,
                             metrics={name: value(i), "other": 1000.0}))
    Snapshot.objects.bulk_create(rows)
    return samples


def expected(samples, start, end) -> dict:
    values = [v for at, v in samples if start <= at < end]
    return {"min": min(values), "max": max(values), "avg": round(sum(values) / len(values), 6),
            "samples": len(values)}


def test_rollups_keep_min_max_total_last_and_samples_per_bucket_idempotently(tenant):
    node = NodeFactory(tenant=tenant, metrics=METRICS)
    start = datetime(2026, 3, 1, tzinfo=UTC)  # a Sunday
    samples = fill(node, start=start, hours=50)
    now = start + timedelta(hours=50, minutes=30)
    rollups.snapshots_rollup(now=now)
    rows = MetricRollup.objects.filter(node=node, name=NAME)
    hour = rows.get(resolution="hour", bucket_start=start)
    hour_values = [v for at, v in samples if at < start + timedelta(hours=1)]
    assert (hour.samples, hour.total, hour.minimum, hour.maximum, hour.last) == (
        6, sum(hour_values), min(hour_values), max(hour_values), hour_values[-1])
    day = rows.get(resolution="day", bucket_start=start)
    day_values = [v for at, v in samples if at < start + timedelta(days=1)]
    assert (day.samples, day.total, day.minimum, day.maximum, day.last) == (
        144, sum(day_values), 0.0, 6.0, day_values[-1])
    week = rows.get(resolution="week", bucket_start=start + timedelta(days=1))  # Monday March 2: partial
    week_values = [v for at, v in samples if at >= start + timedelta(days=1)]
    assert (week.samples, week.total, week.last) == (len(week_values), sum(week_values), week_values[-1])
    assert MetricRollup.objects.filter(node=node, name="other", resolution="hour").count() == 50
    count = MetricRollup.objects.count()
    rollups.snapshots_rollup(now=now)
    assert MetricRollup.objects.count() == count


@pytest.mark.parametrize("window", ["1h", "24h", "7d", "30d"])
def test_statistics_are_the_same_from_raw_snapshots_and_from_rollups(tenant, window):
    node = NodeFactory(tenant=tenant, metrics=METRICS, last_metrics={NAME: 4.0})
    # On the hour: rollups are hour-granular (a window starting mid-hour includes that hour).
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    samples = fill(node, start=now - timedelta(days=9, minutes=5), hours=9 * 24)
    raw = metric_statistics(tenant=tenant, name=NAME, window=window, now=now)
    rollups.snapshots_rollup(now=now)
    assert MetricRollup.objects.filter(resolution="week").exists()
    rolled = metric_statistics(tenant=tenant, name=NAME, window=window, now=now)
    assert rolled == raw
    (row,) = rolled["results"]
    assert row == {"node_id": str(node.pk), "name": node.name, "latest": 4.0,
                   **expected(samples, rolled["from"], now)}


def test_a_window_without_samples_has_no_latest_value(tenant):
    node = NodeFactory(tenant=tenant, metrics=METRICS, last_metrics={NAME: 4.0})
    fill(node, start=timezone.now() - timedelta(days=3), hours=1)
    (row,) = metric_statistics(tenant=tenant, name=NAME, window="24h")["results"]
    assert (row["latest"], row["samples"], row["min"], row["avg"]) == (None, 0, None, None)


def test_the_endpoint_answers_per_node_and_per_group_across_the_rollup_boundary(ops, tenant, other_tenant):
    group = NodeGroupFactory(tenant=tenant, name="bridge")
    first = NodeFactory(tenant=tenant, name="a", group=group, metrics=METRICS, last_metrics={NAME: 5.0})
    second = NodeFactory(tenant=tenant, name="b", group=group, metrics=METRICS, last_metrics={NAME: 9.0})
    NodeFactory(tenant=tenant, name="c", metrics={"something else": "x"})  # declares another metric
    foreign = NodeFactory(tenant=other_tenant, metrics=METRICS, last_metrics={NAME: 1.0})
    now = timezone.now()
    start = now - timedelta(hours=30) + timedelta(minutes=9, seconds=59)  # the last sample: a second ago
    a = fill(first, start=start, hours=30)
    b = fill(second, start=start, hours=30, value=lambda i: 10.0 + i % 3)
    fill(foreign, start=start, hours=30, value=lambda i: -1.0)
    rollups.snapshots_rollup(now=now)  # everything before this hour is rolled up; the rest is raw
    assert MetricRollup.objects.filter(node=first, resolution="hour").count() >= 23
    assert Snapshot.objects.filter(node=first, checked_at__gte=rollups.floor_hour(now)).exists()

    response = ops.get("/api/v1/statistics/metrics", {"name": NAME, "window": "24h"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["name"], body["window"]) == (NAME, "24h")
    window_start = rollups.floor_hour(datetime.fromisoformat(body["from"].replace("Z", "+00:00")))
    assert body["results"] == [
        {"node_id": str(first.pk), "name": "a", "latest": 5.0, **expected(a, window_start, now)},
        {"node_id": str(second.pk), "name": "b", "latest": 9.0, **expected(b, window_start, now)},
    ]
    grouped = ops.get("/api/v1/statistics/metrics", {"name": NAME, "window": "24h", "group_by": "group"}).json()
    assert grouped["results"] == [
        {"group_id": str(group.pk), "name": "bridge", "latest": 9.0, **expected(a + b, window_start, now)}
    ]


def test_a_groups_latest_is_its_largest_members_even_below_zero(tenant):
    group = NodeGroupFactory(tenant=tenant)
    for name, latest in (("a", 0.0), ("b", -2.0)):  # in this order (nodes are read by name)
        node = NodeFactory(tenant=tenant, name=name, group=group, metrics=METRICS, last_metrics={NAME: latest})
        fill(node, start=timezone.now() - timedelta(minutes=30), hours=1, value=lambda i, v=latest: v)
    (row,) = metric_statistics(tenant=tenant, name=NAME, window="1h", group_by="group")["results"]
    assert (row["latest"], row["min"], row["max"]) == (0.0, -2.0, 0.0)


@pytest.mark.parametrize(
    "query",
    [{}, {"name": ""}, {"name": "x" * 65}, {"name": NAME, "window": "90d"}, {"name": NAME, "group_by": "tag"},
     {"name": "bad\u0001name"}],
)
def test_bad_statistics_queries_are_400_in_the_envelope(ops, query):
    response = ops.get("/api/v1/statistics/metrics", query)
    assert response.status_code == 400, query
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_another_tenant_naming_ours_is_404(outsider, tenant):
    response = bearer_client(outsider, tenant).get("/api/v1/statistics/metrics", {"name": NAME})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


class TestMetricStatisticsEndpoint(PermissionMatrix):
    cases = [
        Case("statistics.metrics", "get", "/api/v1/statistics/metrics?name=wraps", Action.READ, 200),
        Case("statistics.metrics.groups", "get", "/api/v1/statistics/metrics?name=wraps&group_by=group&window=30d",
             Action.READ, 200),
    ]

    def make_data(self, tenant, actor):
        return {"node": NodeFactory(tenant=tenant, metrics={"wraps": "a.b"}).pk}

"""Weekly rollups, partial day/week rows and the planner that picks the fewest rollup rows."""
from datetime import UTC, datetime, timedelta

import pytest

from monitoring import rollups, selectors
from monitoring.models import Snapshot, SnapshotRollup, Status
from monitoring.selectors import rollup_spans, uptime_statistics
from tests.monitoring.factories import NodeFactory

H, D = timedelta(hours=1), timedelta(days=1)
# A Wednesday, 17:00 UTC: mid-week and late in the day (the worst case for hourly rows).
WEDNESDAY_EVENING = datetime(2026, 3, 11, 17, 0, tzinfo=UTC)


def rows_per_node(spans) -> int:
    lengths = {"hour": H, "day": D, "week": 7 * D}
    return sum(-(-(end - start) // lengths[level]) for level, start, end in spans)


def assert_contiguous(spans, start, end):
    assert spans[0][1] == start and spans[-1][2] == end
    for (_, _, previous_end), (_, next_start, _) in zip(spans, spans[1:], strict=False):
        assert previous_end == next_start


@pytest.mark.parametrize("hour_mark", [
    datetime(2026, 3, 9, 0, 0, tzinfo=UTC),  # Monday midnight
    datetime(2026, 3, 9, 1, 0, tzinfo=UTC),
    WEDNESDAY_EVENING,
    datetime(2026, 3, 15, 23, 0, tzinfo=UTC),  # Sunday, last hour of the week
])
@pytest.mark.parametrize("window", ["1h", "24h", "7d", "30d"])
def test_spans_cover_the_window_with_few_rows_at_any_time(hour_mark, window):
    marks = {"hour": hour_mark, "day": hour_mark, "week": hour_mark}
    now = hour_mark + timedelta(minutes=37)
    start = now - selectors.UPTIME_WINDOWS[window]
    if window in ("7d", "30d"):
        start = rollups.floor_day(start)
    spans = rollup_spans(start=start, end=now, marks=marks)
    assert_contiguous(spans, rollups.floor_hour(start), hour_mark)
    for level, span_start, _ in spans:
        assert rollups.FLOORS[level](span_start) == span_start
    limit = {"1h": 1, "24h": 24, "7d": 6 + 2, "30d": 6 + 5}[window]
    assert rows_per_node(spans) <= limit


def test_spans_fall_back_to_finer_rows_where_coarse_ones_lag():
    # As left by the previous version: daily rows up to midnight only, no weekly rows yet.
    marks = {"hour": WEDNESDAY_EVENING, "day": rollups.floor_day(WEDNESDAY_EVENING)}
    start = datetime(2026, 3, 1, tzinfo=UTC)
    spans = rollup_spans(start=start, end=WEDNESDAY_EVENING + timedelta(minutes=5), marks=marks)
    assert spans == [("day", start, rollups.floor_day(WEDNESDAY_EVENING)),
                     ("hour", rollups.floor_day(WEDNESDAY_EVENING), WEDNESDAY_EVENING)]
    # A window ending before a partial row's end only uses whole buckets of that level.
    marks = dict.fromkeys(("hour", "day", "week"), WEDNESDAY_EVENING)
    end = datetime(2026, 3, 10, 5, 30, tzinfo=UTC)
    spans = rollup_spans(start=datetime(2026, 3, 2, tzinfo=UTC), end=end, marks=marks)
    assert spans == [("week", datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 9, tzinfo=UTC)),
                     ("day", datetime(2026, 3, 9, tzinfo=UTC), datetime(2026, 3, 10, tzinfo=UTC)),
                     ("hour", datetime(2026, 3, 10, tzinfo=UTC), end)]
    assert rollup_spans(start=WEDNESDAY_EVENING, end=WEDNESDAY_EVENING + H, marks=marks) == []
    assert rollup_spans(start=start, end=WEDNESDAY_EVENING, marks={}) == []


def fill_hourly(node, *, start, hours: int):
    """One snapshot every 10 minutes; every 7th down, latencies cycling through the buckets."""
    rows = []
    for i in range(hours * 6):
        down = i % 7 == 0
        rows.append(Snapshot(tenant=node.tenant, node=node, checked_at=start + i * timedelta(minutes=10),
                             status=Status.DOWN if down else Status.UP,
                             latency_ms=None if down else float(3 + (i * 37) % 400)))
    Snapshot.objects.bulk_create(rows, batch_size=2000)


@pytest.mark.django_db
def test_uptime_over_weekly_and_partial_rows_equals_uptime_from_raw_snapshots(tenant):
    node = NodeFactory(tenant=tenant)
    history_start = WEDNESDAY_EVENING - 40 * D
    fill_hourly(node, start=history_start, hours=40 * 24 + 1)
    now = WEDNESDAY_EVENING + H  # an hour of raw tail after the hourly watermark
    raw = {w: uptime_statistics(tenant=tenant, window=w, now=now)["results"][0] for w in selectors.UPTIME_WINDOWS}
    # Roll up hour by hour through the last days, as the periodic task does, rewriting the
    # partial day and week rows each time.
    rollups.snapshots_rollup(now=WEDNESDAY_EVENING - 3 * D)
    for hours in range(3 * 24 + 1):
        rollups.snapshots_rollup(now=WEDNESDAY_EVENING - 3 * D + hours * H)
    assert SnapshotRollup.objects.filter(resolution="week").count() == 7
    week = SnapshotRollup.objects.get(resolution="week", bucket_start=datetime(2026, 3, 9, tzinfo=UTC))
    assert week.checks == (2 * 24 + 17) * 6  # Monday 00:00 to Wednesday 17:00
    for window, expected in raw.items():
        rolled = uptime_statistics(tenant=tenant, window=window, now=now)["results"][0]
        # Windows start on whole hours here, so the rollups must reproduce the raw figures exactly.
        assert rolled == expected, window


@pytest.mark.django_db
def test_a_rollup_committed_during_the_read_is_not_counted_twice(tenant, monkeypatch):
    node = NodeFactory(tenant=tenant)
    fill_hourly(node, start=WEDNESDAY_EVENING - 9 * D, hours=9 * 24 + 2)
    now = WEDNESDAY_EVENING + timedelta(minutes=90)
    rollups.snapshots_rollup(now=WEDNESDAY_EVENING)
    expected = uptime_statistics(tenant=tenant, window="7d", now=now)["results"][0]

    real = selectors.aggregate_snapshots
    calls = []

    def rollup_in_between(queryset):
        calls.append(1)
        if len(calls) == 1:  # the next hour (and the partial day/week rows) commit mid-read
            assert rollups.snapshots_rollup(now=now)["hours"] == 1
        return real(queryset)

    monkeypatch.setattr(selectors, "aggregate_snapshots", rollup_in_between)
    assert uptime_statistics(tenant=tenant, window="7d", now=now)["results"][0] == expected
    assert len(calls) == 2  # read again with the new watermarks


@pytest.mark.django_db
def test_raw_snapshot_counts_match_the_histogram_edges(tenant):
    node, other = NodeFactory(tenant=tenant), NodeFactory(tenant=tenant)
    at = WEDNESDAY_EVENING
    samples = [(Status.UP, 5.0), (Status.UP, 5.01), (Status.DEGRADED, 2500.0), (Status.UP, 12000.0),
               (Status.UP, None), (Status.DOWN, None), (Status.DOWN, 30.0), (Status.DEGRADED, 10000.0)]
    Snapshot.objects.bulk_create(
        [Snapshot(tenant=tenant, node=node, checked_at=at, status=status, latency_ms=latency)
         for status, latency in samples]
        + [Snapshot(tenant=tenant, node=other, checked_at=at, status=Status.UP, latency_ms=1.0)]
    )
    rows = {row["node_id"]: row for row in rollups.aggregate_snapshots(Snapshot.objects.all())}
    row = rows[node.pk]
    expected = rollups.empty_histogram()
    for status, latency in samples:
        if status != Status.DOWN and latency is not None:
            expected[rollups.bucket_index(latency)] += 1
    assert [row[f"s_{name}"] for name in rollups.HISTOGRAM_FIELDS] == expected
    assert (row["s_checks"], row["s_up"], row["s_degraded"], row["s_down"]) == (8, 4, 2, 2)
    # A sum of floats: the database may add them in another order than Python.
    assert row["s_latency_sum_ms"] == pytest.approx(5.0 + 5.01 + 2500.0 + 12000.0 + 10000.0)
    assert rows[other.pk]["s_lat_b00"] == 1 and rows[other.pk]["s_checks"] == 1

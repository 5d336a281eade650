"""Check-metric statistics over 30 days vs 1 hour, run by hand (never in the test suite).

    psql -h 127.0.0.1 -U postgres -c "create database gs_metrics_bench" postgres   # once
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gs_metrics_bench \\
      .venv/bin/python bench/metric_statistics_bench.py --nodes 1000 [--metrics 6] [--tail-minutes 2 30 60] \
      [--repeats 15] [--reuse]

1,000 nodes each declaring `--metrics` metrics (the seed's wraps/unwraps for BNB Chain,
Ethereum, Supernova); 31 days of hourly MetricRollup rows per node and metric (and the uptime
rows of those hours), the daily and weekly rows the product's rollup task builds from them, and
raw snapshots carrying every metric
each minute from two hours before the hourly watermark to the longest tail after it. Then
`metric_statistics` for one metric per window and tail (`group_by=node` and `group`), as the
endpoint calls it. Target: 30 days within 1.5× of 1 hour. Uses the database in DATABASE_URL
(a scratch one: it deletes every node, snapshot and rollup there). `--reuse` measures the data
a previous run built (its raw tail must reach the longest `--tail-minutes`).
"""
import argparse
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.monitoring_bench import setup_django  # noqa: E402

NETWORKS = ("BNB Chain", "Ethereum", "Supernova")


def metric_names(count: int) -> dict[str, str]:
    names = {}
    for index in range(count):
        network, kind = NETWORKS[index // 2 % 3], ("wraps", "unwraps")[index % 2]
        suffix = f" {index // 6}" if index >= 6 else ""
        names[f"{network} {kind}{suffix}"] = f"networks.{network}.{kind}ToSign{suffix}"
    return names


def build(count: int, metrics: dict[str, str], tail: int):
    from django.db import connection
    from django.utils import timezone

    from monitoring import rollups
    from monitoring.models import MetricRollup, Node, NodeGroup, RollupWatermark, Snapshot, SnapshotRollup
    from tenants.models import Tenant

    for model in (Snapshot, MetricRollup, SnapshotRollup, RollupWatermark, Node, NodeGroup):
        model.objects.all().delete()
    Tenant.objects.filter(slug="bench-metrics").delete()
    tenant = Tenant.objects.create(name="bench-metrics", slug="bench-metrics")
    groups = NodeGroup.objects.bulk_create([NodeGroup(tenant=tenant, name=f"bridge {i}") for i in range(10)])
    last = dict.fromkeys(metrics, 3.0)
    nodes = Node.objects.bulk_create(
        [Node(tenant=tenant, name=f"n{i}", address="127.0.0.1", port=80, check_type="jsonrpc", rpc_method="getStatus",
              metrics=metrics, last_metrics=last, group=groups[i % 10]) for i in range(count)], batch_size=2000)
    hour_mark = rollups.floor_hour(timezone.now())
    print(f"writing 31 days of hourly metric rollups for {count} nodes × {len(metrics)} metrics …", flush=True)
    rows, uptime_rows = [], []
    for node in nodes:
        for hours_back in range(1, 31 * 24 + 1):
            start = hour_mark - timedelta(hours=hours_back)
            # The uptime row of the same hour, as the rollup task writes both (and starts the
            # daily and weekly levels from the uptime rows).
            uptime_rows.append(SnapshotRollup(tenant=tenant, node=node, resolution="hour", bucket_start=start,
                                              checks=60, up=60, latency_sum_ms=60 * 45.0))
            rows.extend(MetricRollup(tenant=tenant, node=node, name=name, resolution="hour", bucket_start=start,
                                     samples=60, total=60 * 3.0, minimum=0.0, maximum=9.0, last=3.0)
                        for name in metrics)
        if len(rows) > 100_000:
            MetricRollup.objects.bulk_create(rows, batch_size=10_000)
            SnapshotRollup.objects.bulk_create(uptime_rows, batch_size=10_000)
            rows, uptime_rows = [], []
    MetricRollup.objects.bulk_create(rows, batch_size=10_000)
    SnapshotRollup.objects.bulk_create(uptime_rows, batch_size=10_000)
    RollupWatermark.objects.update_or_create(resolution="hour", defaults={"until": hour_mark})
    started = time.perf_counter()
    built = rollups.snapshots_rollup(now=hour_mark)  # daily and weekly rows, by the product's code
    print(f"rollup task built {built['days']} days and {built['weeks']} weeks in {time.perf_counter() - started:.1f} s")
    values = dict.fromkeys(metrics, 3.0)
    raw = []
    for node in nodes:
        raw.extend(Snapshot(tenant=tenant, node=node, checked_at=hour_mark + timedelta(minutes=minute), status="up",
                            latency_ms=45.0, metrics=values) for minute in range(-120, tail))
        if len(raw) > 50_000:
            Snapshot.objects.bulk_create(raw, batch_size=5000)
            raw = []
    Snapshot.objects.bulk_create(raw, batch_size=5000)
    print(f"{MetricRollup.objects.count()} metric rollup rows, {Snapshot.objects.count()} raw snapshots")
    if connection.vendor == "postgresql":  # as autovacuum would after such a load: plans need statistics
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return tenant, hour_mark


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--metrics", type=int, default=6)
    parser.add_argument("--tail-minutes", type=int, nargs="+", default=[2, 30, 60])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--reuse", action="store_true", help="measure the data of a previous run")
    args = parser.parse_args()
    setup_django()
    from django.db import connection

    from monitoring.models import RollupWatermark
    from monitoring.selectors import metric_statistics
    from tenants.models import Tenant

    metrics = metric_names(args.metrics)
    if args.reuse:
        tenant = Tenant.objects.get(slug="bench-metrics")
        hour_mark = RollupWatermark.objects.get(resolution="hour").until
    else:
        tenant, hour_mark = build(args.nodes, metrics, max(args.tail_minutes))
    name = next(iter(metrics))
    print(f"metric {name!r}, hourly watermark {hour_mark:%a %Y-%m-%d %H:%M} UTC ({connection.vendor})")
    for tail in args.tail_minutes:
        now = hour_mark + timedelta(minutes=tail)
        for group_by in ("node", "group"):
            medians = {}
            for window in ("1h", "24h", "7d", "30d"):
                timings = []
                for _ in range(args.repeats):
                    started = time.perf_counter()
                    result = metric_statistics(tenant=tenant, name=name, window=window, group_by=group_by, now=now)
                    timings.append(time.perf_counter() - started)
                timings.sort()
                medians[window] = timings[len(timings) // 2]
                print(f"  tail {tail:2} min, group_by={group_by:5} window={window:>3}: median "
                      f"{medians[window] * 1000:7.1f} ms (best {timings[0] * 1000:.1f}) for {len(result['results'])} "
                      f"rows, {result['results'][0]['samples']} samples in the first")
            print(f"  tail {tail:2} min, group_by={group_by}: 30d / 1h = {medians['30d'] / medians['1h']:.2f}")


if __name__ == "__main__":
    main()

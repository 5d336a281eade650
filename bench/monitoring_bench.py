"""Monitoring benchmarks, run by hand (never in the test suite).

    .venv/bin/python bench/monitoring_bench.py poll --nodes 1000 10000
    .venv/bin/python bench/monitoring_bench.py uptime --nodes 1000

`poll`: fake targets (loopback HTTP servers that answer after ~50 ms, in their own process)
and one worker process doing exactly what a beat dispatch + run_check_batch tasks do: claim
due nodes in batches, check them concurrently, bulk-write snapshots and node state. After one
unreported warm-up sweep, reports the median full-sweep time of --repeats sweeps per size,
checks per second, peak RSS and the mean batch time in the first and second half of the sweep
(flat when the cost per node does not grow with the fleet).

`uptime`: 1,000 nodes with 31 days of hourly rollups, the daily and weekly rows the rollup
task builds from them, plus the raw tail; then the uptime query over 1 hour … 30 days, with
short and long raw tails after the hourly watermark.

Uses its own SQLite file under /tmp unless DATABASE_URL is set (use a scratch database!).
"""
import argparse
import asyncio
import multiprocessing
import os
import resource
import socket
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
RESPONSE_DELAY = 0.05
TARGET_PROCESSES = 1
PORTS_PER_PROCESS = 4


# --- Fake targets -----------------------------------------------------------------------------
async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        await reader.readuntil(b"\r\n\r\n")
        await asyncio.sleep(RESPONSE_DELAY)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


def _serve(ports: list[int], ready) -> None:
    async def main() -> None:
        servers = [await asyncio.start_server(_handle, "127.0.0.1", port, backlog=4096) for port in ports]
        ready.set()
        await asyncio.gather(*(server.serve_forever() for server in servers))

    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def start_targets() -> tuple[list[int], list[multiprocessing.Process]]:
    ports = free_ports(TARGET_PROCESSES * PORTS_PER_PROCESS)
    processes = []
    for index in range(TARGET_PROCESSES):
        ready = multiprocessing.Event()
        chunk = ports[index * PORTS_PER_PROCESS : (index + 1) * PORTS_PER_PROCESS]
        process = multiprocessing.Process(target=_serve, args=(chunk, ready), daemon=True)
        process.start()
        ready.wait(10)
        processes.append(process)
    return ports, processes


# --- Django -----------------------------------------------------------------------------------
def setup_django() -> None:
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{tempfile.gettempdir()}/gs-bench-monitoring.sqlite3")
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")
    os.environ.setdefault("DEBUG", "false")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["OUTBOUND_ALLOW_PRIVATE"] = "true"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def fresh_tenant(slug: str):
    from monitoring.models import Node, RollupWatermark, Snapshot, SnapshotRollup
    from tenants.models import Tenant

    Snapshot.objects.all().delete()
    SnapshotRollup.objects.all().delete()
    RollupWatermark.objects.all().delete()
    Node.objects.all().delete()
    Tenant.objects.filter(slug=slug).delete()
    return Tenant.objects.create(name=slug, slug=slug)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _sweep(count: int, ports: list[int], batch_size: int) -> tuple[float, int, int, list[float]]:
    """One full sweep of `count` fresh due nodes: (seconds, checked, up, seconds per batch)."""
    from django.utils import timezone

    from monitoring import services
    from monitoring.models import Node, Snapshot

    tenant = fresh_tenant("bench-poll")
    now = timezone.now()
    Node.objects.bulk_create(
        [
            Node(tenant=tenant, name=f"n{i}", address="127.0.0.1", port=ports[i % len(ports)], path="/",
                 interval_seconds=60, timeout_seconds=10, next_check_at=now)
            for i in range(count)
        ],
        batch_size=2000,
    )
    batches = []
    started = time.perf_counter()
    checked = 0
    while True:
        batch_started = time.perf_counter()
        token, ids = services.nodes_claim_due(limit=batch_size)
        if not ids:
            break
        checked += len(services.nodes_run_claimed(token=token, node_ids=ids))
        batches.append(time.perf_counter() - batch_started)
    elapsed = time.perf_counter() - started
    return elapsed, checked, Snapshot.objects.filter(status="up").count(), batches


def bench_poll(counts: list[int], concurrency: int, batch_size: int, repeats: int) -> None:
    from django.conf import settings

    settings.MONITORING_CHECK_CONCURRENCY = concurrency
    ports, processes = start_targets()
    print(f"fake targets on {len(ports)} ports, {RESPONSE_DELAY * 1000:.0f} ms answer delay; "
          f"concurrency {concurrency}, batch {batch_size}; median of {repeats} sweeps per size")
    try:
        # Warm-up (not reported): imports, first connections and the event loop would otherwise
        # be charged to whichever size runs first.
        _sweep(min(batch_size, min(counts)), ports, batch_size)
        medians = {}
        for count in counts:
            runs = sorted((_sweep(count, ports, batch_size) for _ in range(repeats)), key=lambda run: run[0])
            elapsed, checked, ok, batches = runs[len(runs) // 2]
            medians[count] = elapsed
            half = max(1, len(batches) // 2)
            print(f"{count:>6} nodes: sweep {elapsed:6.2f} s (runs {', '.join(f'{r[0]:.2f}' for r in runs)}), "
                  f"{checked / elapsed:7.0f} checks/s, {ok}/{checked} up, peak RSS {peak_rss_mb():.0f} MB; "
                  f"batch mean {1000 * sum(batches[:half]) / half:.0f} ms first half, "
                  f"{1000 * sum(batches[half:]) / max(1, len(batches) - half):.0f} ms second half")
        smallest = min(counts)
        for count in counts:
            if count != smallest:
                print(f"{count} / {smallest} nodes: {medians[count] / medians[smallest]:.2f}x the time for "
                      f"{count / smallest:.0f}x the nodes")
    finally:
        for process in processes:
            process.terminate()


def bench_uptime(count: int, tail_minutes: list[int], repeats: int = 5, explain: bool = False, at=None) -> None:
    """31 days of hourly rows, the daily and weekly rows the rollup task builds from them
    (today's and this week's partial), and raw snapshots from two hours before the hourly
    watermark to `max(tail_minutes)` after it. Each window is then timed at `now` = watermark +
    each tail: the raw tail after the watermark is 0–70 minutes in production (the rollup
    task runs every 10 minutes), and a short tail is the hardest case for the 30d/1h ratio."""
    from django.db import connection
    from django.utils import timezone

    from monitoring import rollups
    from monitoring.models import Node, RollupWatermark, Snapshot, SnapshotRollup
    from monitoring.rollups import HISTOGRAM_FIELDS, floor_hour
    from monitoring.selectors import UPTIME_WINDOWS, rollup_spans, uptime_statistics

    tenant = fresh_tenant("bench-uptime")
    hour_mark = floor_hour(at or timezone.now())
    nodes = Node.objects.bulk_create(
        [Node(tenant=tenant, name=f"n{i}", address="127.0.0.1", port=80) for i in range(count)], batch_size=2000
    )
    histogram = dict(zip(HISTOGRAM_FIELDS, [0, 0, 0, 10, 30, 15, 5] + [0] * 12, strict=True))
    print(f"writing 31 days of hourly rollups for {count} nodes …", flush=True)
    rows = []
    for node in nodes:
        for hours_back in range(1, 31 * 24 + 1):
            rows.append(SnapshotRollup(tenant=tenant, node=node, resolution="hour",
                                       bucket_start=hour_mark - timedelta(hours=hours_back), checks=60, up=59, down=1,
                                       latency_sum_ms=59 * 45.0, **histogram))
        if len(rows) > 50_000:
            SnapshotRollup.objects.bulk_create(rows, batch_size=5000)
            rows = []
    SnapshotRollup.objects.bulk_create(rows, batch_size=5000)
    RollupWatermark.objects.update_or_create(resolution="hour", defaults={"until": hour_mark})
    started = time.perf_counter()
    built = rollups.snapshots_rollup(now=hour_mark)  # daily and weekly rows, by the product's code
    print(f"rollup task built {built['days']} days and {built['weeks']} weeks in {time.perf_counter() - started:.1f} s")
    # Raw snapshots every minute: two rolled-up hours still inside retention, then the tail.
    raw = []
    for node in nodes:
        for minute in range(-120, max(tail_minutes)):
            raw.append(Snapshot(tenant=tenant, node=node, checked_at=hour_mark + timedelta(minutes=minute),
                                status="up", latency_ms=45.0))
        if len(raw) > 50_000:
            Snapshot.objects.bulk_create(raw, batch_size=5000)
            raw = []
    Snapshot.objects.bulk_create(raw, batch_size=5000)
    marks = rollups.watermarks()
    print(f"{SnapshotRollup.objects.count()} rollup rows, {Snapshot.objects.count()} raw snapshots; "
          f"hourly watermark {hour_mark:%a %Y-%m-%d %H:%M} UTC ({connection.vendor})")
    for tail in tail_minutes:
        now = hour_mark + timedelta(minutes=tail)
        print(f"now = watermark + {tail} min:")
        for window in ("1h", "24h", "7d", "30d"):
            timings = []
            for _ in range(repeats):
                started = time.perf_counter()
                result = uptime_statistics(tenant=tenant, window=window, now=now)
                timings.append(time.perf_counter() - started)
            timings.sort()
            spans = rollup_spans(start=result["from"], end=now, marks=marks)
            per_node = sum(SnapshotRollup.objects.filter(node=nodes[0], resolution=level, bucket_start__gte=a,
                                                         bucket_start__lt=b).count() for level, a, b in spans)
            print(f"  uptime window={window:>3}: median {timings[len(timings) // 2] * 1000:7.1f} ms "
                  f"(best {timings[0] * 1000:.1f} ms) for {len(result['results'])} nodes; per node "
                  f"{per_node} rollup rows ({'+'.join(level for level, _, _ in spans)}) + {tail} raw")
    if explain:
        from monitoring.rollups import snapshot_counts
        from monitoring.selectors import rollup_totals_sql

        now = hour_mark + timedelta(minutes=max(tail_minutes))
        start = rollups.floor_day(now - UPTIME_WINDOWS["30d"])
        # The two statements uptime_statistics runs for a 30-day window.
        rollup_sql, rollup_params = rollup_totals_sql(tenant=tenant, spans=rollup_spans(start=start, end=now,
                                                                                         marks=marks))
        prefix = "EXPLAIN QUERY PLAN " if connection.vendor == "sqlite" else "EXPLAIN "
        with connection.cursor() as cursor:
            cursor.execute(prefix + rollup_sql, rollup_params)
            print("plan, rollup rows (30d):\n  " + "\n  ".join(" ".join(map(str, row)) for row in cursor.fetchall()))
        raw = snapshot_counts(Snapshot.objects.filter(tenant=tenant, checked_at__gte=hour_mark, checked_at__lt=now))
        print("plan, raw tail:\n  " + raw.explain().replace("\n", "\n  "))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    poll = sub.add_parser("poll")
    poll.add_argument("--nodes", type=int, nargs="+", default=[1000, 10000])
    poll.add_argument("--concurrency", type=int, default=200)
    poll.add_argument("--batch", type=int, default=1000)
    poll.add_argument("--repeats", type=int, default=3, help="sweeps per size; the median is reported")
    uptime = sub.add_parser("uptime")
    uptime.add_argument("--nodes", type=int, default=1000)
    uptime.add_argument("--tail-minutes", type=int, nargs="+", default=[2, 30, 60],
                        help="raw snapshots after the hourly watermark (0–70 in production)")
    uptime.add_argument("--explain", action="store_true", help="print the query plans")
    uptime.add_argument("--at", type=datetime.fromisoformat, default=None,
                        help="hourly watermark, e.g. 2026-11-19T23:00+00:00 (default: this hour); a Thursday "
                             "evening is the worst case: the 30d window then starts on a Tuesday (6 daily rows)")
    args = parser.parse_args()
    setup_django()
    if args.command == "poll":
        bench_poll(args.nodes, args.concurrency, args.batch, args.repeats)
    else:
        bench_uptime(args.nodes, args.tail_minutes, explain=args.explain, at=args.at)


if __name__ == "__main__":
    main()

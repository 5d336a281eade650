"""Monitoring benchmarks, run by hand (never in the test suite).

    .venv/bin/python bench/monitoring_bench.py poll --nodes 1000 10000
    .venv/bin/python bench/monitoring_bench.py uptime --nodes 1000

`poll`: fake targets (loopback HTTP servers that answer after ~50 ms, in their own process)
and one worker process doing exactly what a beat dispatch + run_check_batch tasks do: claim
due nodes in batches, check them concurrently, bulk-write snapshots and node state. Reports
the full-sweep time, checks per second and peak RSS.

`uptime`: 1,000 nodes with 30 days of hourly/daily rollups plus the raw tail, then the
uptime query over 1 hour vs 30 days.

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
from datetime import timedelta
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


def bench_poll(counts: list[int], concurrency: int, batch_size: int) -> None:
    from django.conf import settings
    from django.utils import timezone

    from monitoring import services
    from monitoring.models import Node, Snapshot

    settings.MONITORING_CHECK_CONCURRENCY = concurrency
    ports, processes = start_targets()
    print(f"fake targets on {len(ports)} ports, {RESPONSE_DELAY * 1000:.0f} ms answer delay; "
          f"concurrency {concurrency}, batch {batch_size}")
    try:
        for count in counts:
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
            started = time.perf_counter()
            checked = 0
            while True:
                token, ids = services.nodes_claim_due(limit=batch_size)
                if not ids:
                    break
                checked += len(services.nodes_run_claimed(token=token, node_ids=ids))
            elapsed = time.perf_counter() - started
            ok = Snapshot.objects.filter(status="up").count()
            print(f"{count:>6} nodes: sweep {elapsed:6.2f} s, {checked / elapsed:7.0f} checks/s, "
                  f"{ok}/{checked} up, peak RSS {peak_rss_mb():.0f} MB")
    finally:
        for process in processes:
            process.terminate()


def bench_uptime(count: int, repeats: int = 5) -> None:
    from django.utils import timezone

    from monitoring.models import Node, RollupWatermark, Snapshot, SnapshotRollup
    from monitoring.rollups import HISTOGRAM_FIELDS, floor_day, floor_hour
    from monitoring.selectors import uptime_statistics

    tenant = fresh_tenant("bench-uptime")
    now = timezone.now()
    hour_mark, day_mark = floor_hour(now), floor_day(now)
    nodes = Node.objects.bulk_create(
        [Node(tenant=tenant, name=f"n{i}", address="127.0.0.1", port=80) for i in range(count)], batch_size=2000
    )
    histogram = dict(zip(HISTOGRAM_FIELDS, [0, 0, 0, 10, 30, 15, 5] + [0] * 12, strict=True))
    print(f"writing 30 days of rollups for {count} nodes …", flush=True)
    rows = []
    for node in nodes:
        for hours_back in range(1, 30 * 24 + 1):
            rows.append(SnapshotRollup(tenant=tenant, node=node, resolution="hour",
                                       bucket_start=hour_mark - timedelta(hours=hours_back), checks=60, up=59, down=1,
                                       latency_sum_ms=59 * 45.0, **histogram))
        for days_back in range(1, 31):
            rows.append(SnapshotRollup(tenant=tenant, node=node, resolution="day",
                                       bucket_start=day_mark - timedelta(days=days_back), checks=1440, up=1416,
                                       down=24, latency_sum_ms=1416 * 45.0,
                                       **{k: c * 24 for k, c in histogram.items()}))
        if len(rows) > 50_000:
            SnapshotRollup.objects.bulk_create(rows, batch_size=5000)
            rows = []
    SnapshotRollup.objects.bulk_create(rows, batch_size=5000)
    # The raw tail since the hourly watermark (up to an hour of 60 s checks), plus two rolled-up
    # hours of raw snapshots still inside retention.
    raw = []
    minutes = int((now - hour_mark).total_seconds() // 60) + 120
    for node in nodes:
        for minute in range(minutes):
            raw.append(Snapshot(tenant=tenant, node=node, checked_at=now - timedelta(minutes=minute), status="up",
                                latency_ms=45.0))
        if len(raw) > 50_000:
            Snapshot.objects.bulk_create(raw, batch_size=5000)
            raw = []
    Snapshot.objects.bulk_create(raw, batch_size=5000)
    RollupWatermark.objects.update_or_create(resolution="hour", defaults={"until": hour_mark})
    RollupWatermark.objects.update_or_create(resolution="day", defaults={"until": day_mark})
    print(f"{SnapshotRollup.objects.count()} rollup rows, {Snapshot.objects.count()} raw snapshots "
          f"({(now - hour_mark).total_seconds() / 60:.0f} min since the hourly watermark)")
    for window in ("1h", "24h", "7d", "30d"):
        timings = []
        for _ in range(repeats):
            started = time.perf_counter()
            result = uptime_statistics(tenant=tenant, window=window)
            timings.append(time.perf_counter() - started)
        timings.sort()
        print(f"uptime window={window:>3}: median {timings[len(timings) // 2] * 1000:7.1f} ms "
              f"(best {timings[0] * 1000:.1f} ms) for {len(result['results'])} nodes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    poll = sub.add_parser("poll")
    poll.add_argument("--nodes", type=int, nargs="+", default=[1000, 10000])
    poll.add_argument("--concurrency", type=int, default=200)
    poll.add_argument("--batch", type=int, default=1000)
    uptime = sub.add_parser("uptime")
    uptime.add_argument("--nodes", type=int, default=1000)
    args = parser.parse_args()
    setup_django()
    if args.command == "poll":
        bench_poll(args.nodes, args.concurrency, args.batch)
    else:
        bench_uptime(args.nodes)


if __name__ == "__main__":
    main()

"""Monitoring sweep through the deployed shape, run by hand (never in the test suite).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gs_sweep_bench REDIS_URL=redis://127.0.0.1:6379/5 \
      .venv/bin/python bench/sweep_bench.py --nodes 1000 10000 100000 [--sweeps 3] [--profile 1000]

Peers: real loopback servers in their own processes (uvloop): `--http-ports` HTTP ports that
answer `200 ok` after 50 ms and `--tcp-ports` TCP ports that accept and close, spread over
`--peer-processes` processes. Every node has its own (port, path) pair on one of them; a
tenth of the nodes are TCP checks.

Worker: the README's production worker command (`bench/production.py`) with
`--concurrency 1` — one worker process — on PostgreSQL and Redis. This process plays beat: it
calls `dispatch_due_checks` (the task beat runs every 5 s), which claims every due node in
batches and queues one `run_check_batch` per batch; a sweep ends when the last node's snapshot
is written. Sweep 1 of each size is a fresh fleet (every node goes `unknown` → `up`: a
transition, a live event and a group-free state write each); the following ones are the steady
state (no transitions), started by making every node due again.

Reported per sweep: wall time, checks/s, CPU seconds of the worker and of PostgreSQL, and
PostgreSQL's transactions and rows written for the database (pg_stat_database), and Redis
commands (INFO commandstats, server-wide: other clients of the server add to it).

`--profile N`: one N-node sweep in this process instead (claim + run, what the worker does),
with cProfile and counts of SQL statements and Redis commands per node.
"""
import argparse
import asyncio
import cProfile
import multiprocessing
import os
import pstats
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.monitoring_bench import free_ports  # noqa: E402
from bench.production import readme_worker_command  # noqa: E402

RESPONSE_DELAY = 0.05
TCP_SHARE = 10  # one node in ten is a TCP check


# --- Peers ----------------------------------------------------------------------------------
async def _http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        await reader.readuntil(b"\r\n\r\n")
        await asyncio.sleep(RESPONSE_DELAY)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        pass
    finally:
        writer.close()


async def _tcp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()


def _serve(http_ports: list[int], tcp_ports: list[int], ready) -> None:
    import uvloop

    async def main() -> None:
        servers = [await asyncio.start_server(_http, "127.0.0.1", port, backlog=8192) for port in http_ports]
        servers += [await asyncio.start_server(_tcp, "127.0.0.1", port, backlog=8192) for port in tcp_ports]
        ready.set()
        await asyncio.gather(*(server.serve_forever() for server in servers))

    uvloop.run(main())


def start_peers(processes: int, http_count: int, tcp_count: int):
    http_ports, tcp_ports = free_ports(http_count), free_ports(tcp_count)
    children = []
    for index in range(processes):
        ready = multiprocessing.Event()
        child = multiprocessing.Process(
            target=_serve, args=(http_ports[index::processes], tcp_ports[index::processes], ready), daemon=True
        )
        child.start()
        if not ready.wait(20):
            raise SystemExit("peers did not start")
        children.append(child)
    return http_ports, tcp_ports, children


# --- Platform -------------------------------------------------------------------------------
def setup_django() -> None:
    if not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get("REDIS_URL"):
        raise SystemExit("set DATABASE_URL (a scratch PostgreSQL database) and REDIS_URL")
    os.environ.update(OUTBOUND_ALLOW_PRIVATE="true", DEBUG="false", LOG_LEVEL="WARNING")
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def make_fleet(count: int, http_ports: list[int], tcp_ports: list[int]):
    from django.utils import timezone

    from monitoring.models import Incident, Node, Snapshot
    from tenants.models import Tenant

    Snapshot.objects.all().delete()
    Incident.objects.all().delete()
    Node.objects.all().delete()
    Tenant.objects.filter(slug="bench-sweep").delete()
    tenant = Tenant.objects.create(name="bench-sweep", slug="bench-sweep")
    now = timezone.now()
    nodes = []
    for i in range(count):
        tcp = i % TCP_SHARE == 0
        port = tcp_ports[i % len(tcp_ports)] if tcp else http_ports[i % len(http_ports)]
        nodes.append(Node(tenant=tenant, name=f"n{i}", address="127.0.0.1", port=port, path=f"/health/{i}",
                          check_type="tcp" if tcp else "http", interval_seconds=60, timeout_seconds=10,
                          next_check_at=now))
    Node.objects.bulk_create(nodes, batch_size=5000)
    return tenant


def start_worker() -> subprocess.Popen:
    from config.celery import app

    argv = readme_worker_command(concurrency=1) + ["-n", f"sweep-bench-{os.getpid()}@%h"]
    log = open(ROOT / "var" / "bench-sweep-worker.log", "w")  # noqa: SIM115 (kept open for the child)
    worker = subprocess.Popen(argv, cwd=ROOT, env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if app.control.ping(timeout=0.5):
            return worker
    raise SystemExit("the worker did not come up (var/bench-sweep-worker.log)")


def worker_pids(worker: subprocess.Popen) -> list[int]:
    children = subprocess.run(["pgrep", "-P", str(worker.pid)], capture_output=True, text=True, check=False)
    return [worker.pid, *map(int, children.stdout.split())]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of the processes, from /proc (0 for any that has gone)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def postgres_pids() -> list[int]:
    result = subprocess.run(["pgrep", "-u", "postgres"], capture_output=True, text=True, check=False)
    return [int(pid) for pid in result.stdout.split()]


def make_due() -> None:
    from datetime import timedelta

    from django.utils import timezone

    from monitoring.models import Node

    Node.objects.update(next_check_at=timezone.now() - timedelta(seconds=1))


def pg_counters() -> tuple[int, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT xact_commit, tup_inserted + tup_updated + tup_deleted FROM pg_stat_database "
                       "WHERE datname = current_database()")
        return cursor.fetchone()


def redis_commands(client) -> int:
    return sum(stats["calls"] for stats in client.info("commandstats").values())


def sweep(worker: subprocess.Popen, count: int, redis_client, timeout: float = 900) -> dict:
    from django.db import connection
    from django.db.models import Max

    from monitoring import tasks
    from monitoring.models import Snapshot

    make_due()
    first_id = Snapshot.objects.aggregate(last=Max("id"))["last"] or 0
    connection.close()  # pg_stat_database counts this connection's statements too; start clean
    before = (time.perf_counter(), cpu_seconds(worker_pids(worker)), cpu_seconds(postgres_pids()), pg_counters(),
              redis_commands(redis_client))
    tasks.dispatch_due_checks()
    dispatched = time.perf_counter()
    while Snapshot.objects.filter(id__gt=first_id).count() < count:
        if time.perf_counter() - before[0] > timeout:
            raise SystemExit("the sweep did not finish")
        time.sleep(0.1)
    elapsed = time.perf_counter() - before[0]
    xacts, rows = (now - then for now, then in zip(pg_counters(), before[3], strict=True))
    return {"seconds": elapsed, "dispatch": dispatched - before[0],
            "worker_cpu": cpu_seconds(worker_pids(worker)) - before[1],
            "pg_cpu": cpu_seconds(postgres_pids()) - before[2], "xacts": xacts, "rows": rows,
            "redis": redis_commands(redis_client) - before[4]}


def show(label: str, count: int, run: dict) -> None:
    print(f"  {label:<7} {run['seconds']:7.2f} s ({count / run['seconds']:6.0f} checks/s; dispatch "
          f"{run['dispatch']:.2f} s) worker CPU {run['worker_cpu']:6.1f} s, PostgreSQL CPU {run['pg_cpu']:5.1f} s, "
          f"{run['xacts'] / count * 1000:5.1f} transactions and {run['rows'] / count:4.2f} rows written per "
          f"1,000 / per node, {run['redis'] / count:5.2f} Redis commands per node", flush=True)


def bench(counts: list[int], sweeps: int, args) -> None:
    import redis

    http_ports, tcp_ports, peers = start_peers(args.peer_processes, args.http_ports, args.tcp_ports)
    print(f"peers: {args.peer_processes} process(es), {len(http_ports)} HTTP ports ({RESPONSE_DELAY * 1000:.0f} ms), "
          f"{len(tcp_ports)} TCP ports; worker: {' '.join(readme_worker_command(concurrency=1)[1:])}", flush=True)
    worker = start_worker()
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    try:
        make_fleet(min(counts), http_ports, tcp_ports)
        sweep(worker, min(counts), client)  # warm-up: imports and first connections in the worker
        for count in counts:
            make_fleet(count, http_ports, tcp_ports)
            print(f"{count} nodes:", flush=True)
            show("fresh", count, sweep(worker, count, client))
            steady = [sweep(worker, count, client) for _ in range(sweeps - 1)]
            for run in steady:
                show("steady", count, run)
            if steady:
                print(f"  steady median {statistics.median(r['seconds'] for r in steady):.2f} s", flush=True)
    finally:
        worker.terminate()
        worker.wait(60)
        for peer in peers:
            peer.terminate()


# --- Profile --------------------------------------------------------------------------------
def profile(count: int, args) -> None:
    import redis
    from django.db import connection

    from monitoring import services

    http_ports, tcp_ports, peers = start_peers(args.peer_processes, args.http_ports, args.tcp_ports)
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    statements: Counter = Counter()

    def count_statements(execute, sql, params, many, context):
        statements[sql.split(" WHERE ")[0][:90]] += 1
        return execute(sql, params, many, context)

    def one_sweep(profiler=None) -> float:
        started = time.perf_counter()
        while True:
            token, ids = services.nodes_claim_due(limit=1000)
            if not ids:
                return time.perf_counter() - started
            if profiler:
                profiler.enable()
            services.nodes_run_claimed(token=token, node_ids=ids)
            if profiler:
                profiler.disable()

    try:
        for label in ("fresh", "steady"):
            if label == "fresh":
                make_fleet(count, http_ports, tcp_ports)
            else:
                make_due()
            statements.clear()
            profiler = cProfile.Profile()
            commands = redis_commands(client)
            with connection.execute_wrapper(count_statements):
                elapsed = one_sweep(profiler)
            commands = redis_commands(client) - commands - 2  # the two INFO calls
            print(f"{label}: {count} nodes in {elapsed:.2f} s (profiled); {sum(statements.values())} SQL statements "
                  f"({sum(statements.values()) / count:.3f} per node), {commands} Redis commands "
                  f"({commands / count:.3f} per node)")
            for sql, times in statements.most_common(15):
                print(f"  {times:6d}  {sql}")
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    finally:
        for peer in peers:
            peer.terminate()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--sweeps", type=int, default=3, help="per size: one fresh, the rest steady")
    parser.add_argument("--peer-processes", type=int, default=1)
    parser.add_argument("--http-ports", type=int, default=32)
    parser.add_argument("--tcp-ports", type=int, default=8)
    parser.add_argument("--profile", type=int, metavar="N", help="profile one N-node sweep in this process")
    args = parser.parse_args()
    setup_django()
    if args.profile:
        profile(args.profile, args)
    else:
        bench(args.nodes, args.sweeps, args)


if __name__ == "__main__":
    main()

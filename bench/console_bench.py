"""Console dashboard benchmark, run by hand (never in the test suite).

    .venv/bin/python bench/console_bench.py --nodes 1000 20000 --calls 200000

Seeds a fleet (nodes in quorum groups, open incidents), 24 h of runs and metered API calls
(rolled up into daily usage as the flush task does),
then times the dashboard's selectors (the queries) and the full page (selectors + template)
through the Django test client. Reports the query count, median and p95 per fleet size.

Uses its own SQLite file under /tmp unless DATABASE_URL is set (use a scratch database!).
"""
import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
REPEATS = 15


def setup_django() -> None:
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{tempfile.gettempdir()}/gs-bench-console.sqlite3")
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-0123456789abcdef")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def reset() -> None:
    from apikeys.models import ApiCall, UsageRollup
    from monitoring.models import Incident, Node, NodeGroup
    from orchestration.models import Run
    from tenants.models import Tenant

    for model in (ApiCall, UsageRollup, Incident, Run, Node, NodeGroup):
        model.objects.all().delete()
    Tenant.objects.filter(slug__startswith="bench-").delete()


def seed(*, nodes: int, calls: int) -> None:
    from django.utils import timezone

    from apikeys.models import ApiCall
    from apikeys.services import usage_rollup
    from monitoring.models import Incident, Node, NodeGroup
    from orchestration.models import Run
    from tenants.models import Tenant

    now = timezone.now()
    tenants = Tenant.objects.bulk_create([Tenant(name=f"Bench {i}", slug=f"bench-{i}") for i in range(20)])
    groups = NodeGroup.objects.bulk_create(
        [NodeGroup(tenant=tenants[i % 20], name=f"g{i}", min_online=3, status=("up", "down")[i % 7 == 0])
         for i in range(max(nodes // 25, 1))]
    )
    statuses = ["up"] * 17 + ["down", "degraded", "unknown"]
    rows = [
        Node(tenant=tenants[i % 20], name=f"n{i}", address="10.0.0.1", group=groups[i % len(groups)],
             status=statuses[i % len(statuses)], enabled=i % 50 != 0)
        for i in range(nodes)
    ]
    Node.objects.bulk_create(rows, batch_size=2000)
    down = list(Node.objects.filter(status="down").values_list("pk", "tenant_id")[:200])
    Incident.objects.bulk_create(
        [Incident(tenant_id=t, node_id=n, title=f"node {n} down", opened_at=now) for n, t in down]
    )
    Run.objects.bulk_create(
        [Run(tenant=tenants[i % 20], kind="execution", satellite="echo",
             status=("succeeded", "failed", "running")[i % 3]) for i in range(nodes // 2)],
        batch_size=2000,
    )
    ApiCall.objects.bulk_create(
        [ApiCall(id=uuid.uuid4(), tenant=tenants[i % 20], route="/api/v1/nodes", method="GET",
                 status=429 if i % 40 == 0 else 200, duration_ms=5.0,
                 created_at=now - timedelta(seconds=(i * 86_000) // max(calls, 1))) for i in range(calls)],
        batch_size=5000,
    )
    usage_rollup(batch_size=50_000)


def timed(fn) -> list[float]:
    samples = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def describe(samples: list[float]) -> str:
    ordered = sorted(samples)
    return f"median {statistics.median(ordered):7.1f} ms  p95 {ordered[int(len(ordered) * 0.95) - 1]:7.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, nargs="+", default=[1000, 20000])
    parser.add_argument("--calls", type=int, default=100_000, help="metered API calls in the last 24 h")
    args = parser.parse_args()
    setup_django()

    from django.db import connection
    from django.test import Client

    from accounts.models import User
    from console import selectors

    user, _ = User.objects.get_or_create(email="bench-operator@example.com", defaults={"is_staff": True,
                                                                                     "is_superuser": True})
    client = Client()
    client.force_login(user)
    print(f"database: {connection.vendor}; {REPEATS} repeats each; {args.calls} API calls in 24 h")
    for nodes in args.nodes:
        reset()
        started = time.perf_counter()
        seed(nodes=nodes, calls=args.calls)
        seeded = time.perf_counter() - started
        queries = []

        def count(execute, sql, params, many, context, seen=queries):
            seen.append(sql)
            return execute(sql, params, many, context)

        with connection.execute_wrapper(count):
            assert client.get("/admin/dashboard/", secure=True).status_code == 200
        queries_selectors = timed(selectors.dashboard)
        page = timed(lambda: client.get("/admin/dashboard/", secure=True))
        print(f"{nodes:>7} nodes (seeded in {seeded:5.1f} s): {len(queries)} queries | "
              f"selectors {describe(queries_selectors)} | page {describe(page)}")
    reset()


if __name__ == "__main__":
    main()

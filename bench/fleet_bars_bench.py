"""The node list's check bars: one UNION ALL of per-node index ranges against a window
function over the nodes' snapshots (what Django's sliced prefetch does). Run by hand:

    DATABASE_URL=postgres://…/scratch .venv/bin/python bench/fleet_bars_bench.py --nodes 100 --days 14

Seeds `--nodes` nodes with one check a minute over `--days` days (14: the raw retention), then
times `monitoring.history.nodes_recent_checks` (the last 30 checks of every node) and the same
rows by ROW_NUMBER() OVER (PARTITION BY node). Uses its own SQLite file under /tmp unless
DATABASE_URL is set (use a scratch database!).
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
REPEATS = 5


def setup_django() -> None:
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{tempfile.gettempdir()}/gs-bench-fleet-bars.sqlite3")
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-0123456789abcdef")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def seed(nodes: int, days: int) -> list:
    from django.utils import timezone

    from monitoring.models import Node, Snapshot
    from tenants.models import Tenant

    Snapshot.objects.all().delete()
    Node.objects.all().delete()
    tenant = Tenant.objects.create(name="Bench", slug=f"bench-{uuid.uuid4().hex[:8]}")
    fleet = Node.objects.bulk_create(
        Node(tenant=tenant, name=f"n{i}", address="127.0.0.1", port=9) for i in range(nodes)
    )
    now, minutes = timezone.now(), days * 24 * 60
    for node in fleet:
        Snapshot.objects.bulk_create(
            (Snapshot(tenant=tenant, node=node, checked_at=now - timedelta(minutes=m), status="up", latency_ms=10)
             for m in range(1, minutes + 1)), batch_size=5000)
    return [node.pk for node in fleet]


def timed(fn) -> float:
    fn()
    runs = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--days", type=int, default=14)
    args = parser.parse_args()
    setup_django()
    from django.db.models import F, Window
    from django.db.models.functions import RowNumber

    from monitoring import history
    from monitoring.models import Snapshot

    ids = seed(args.nodes, args.days)
    union = timed(lambda: history.nodes_recent_checks(node_ids=ids))
    window = timed(lambda: list(
        Snapshot.objects.filter(node_id__in=ids)
        .annotate(rank=Window(RowNumber(), partition_by=[F("node_id")], order_by=F("checked_at").desc()))
        .filter(rank__lte=history.LIST_CHECKS).values_list("node_id", "checked_at")
    ))
    print(f"{Snapshot.objects.count():,} snapshots, {len(ids)} nodes: union {union:.0f} ms, "
          f"window {window:.0f} ms (median of {REPEATS})")


if __name__ == "__main__":
    main()

"""Database side of bench/load.py, run in the private environment it sets up; prints JSON.

    python -m bench.load_driver setup <keys> <limited_rate> <nodes> <node_port>
    python -m bench.load_driver reconcile
"""
import json
import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from django.db.models import Count  # noqa: E402
from django.utils import timezone  # noqa: E402

from apikeys import services as apikey_services  # noqa: E402
from apikeys.models import ApiCall  # noqa: E402
from monitoring.models import Node, Snapshot  # noqa: E402
from tenants import services as tenant_services  # noqa: E402
from tenants.models import Tenant  # noqa: E402


def setup(keys: int, limited_rate: str, nodes: int, node_port: int) -> dict:
    # A generous plan, so only key 0's own rate limits anything.
    plan = tenant_services.plan_create(name="Load", slug="load", rates=["1000000/m"])
    tenant = Tenant.objects.create(name="Load", slug="load", plan=plan)
    made = []
    for i in range(keys):
        # Key 0 carries a low rate, so the run also proves limits hold under concurrency.
        rate = limited_rate if i == 0 else ""
        key, secret = apikey_services.api_key_create(tenant=tenant, name=f"load-{i}", scopes=["read", "write"],
                                                     rate_limit=rate)
        made.append({"id": str(key.pk), "secret": secret, "rate_limit": rate})
    Node.objects.bulk_create(
        Node(tenant=tenant, name=f"n{i}", address="127.0.0.1", port=node_port, path=f"/ok?n={i}",
             interval_seconds=10, timeout_seconds=2, next_check_at=timezone.now())
        for i in range(nodes)
    )
    return {"keys": made}


def reconcile() -> dict:
    apikey_services.usage_flush(stale_after_seconds=0)
    per_key = dict(ApiCall.objects.values_list("api_key_id").annotate(n=Count("id")).values_list("api_key_id", "n"))
    duplicate_request_ids = (
        ApiCall.objects.exclude(request_id="").values("request_id").annotate(n=Count("id")).filter(n__gt=1).count()
    )
    duplicate_snapshots = (
        Snapshot.objects.values("node_id", "checked_at").annotate(n=Count("id")).filter(n__gt=1).count()
    )
    checks = dict(Snapshot.objects.values_list("node_id").annotate(n=Count("id")).values_list("node_id", "n"))
    return {
        "usage_rows_per_key": {str(k): n for k, n in per_key.items()},
        "duplicate_request_ids": duplicate_request_ids,
        "duplicate_snapshots": duplicate_snapshots,
        "checks_per_node": sorted(checks.values()),
    }


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "setup":
        result = setup(int(args[0]), args[1], int(args[2]), int(args[3]))
    elif command == "reconcile":
        result = reconcile()
    else:
        raise SystemExit(f"unknown command {command}")
    print(json.dumps(result))

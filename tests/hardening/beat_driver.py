"""Out-of-process helper for the two-beats test, against the private database in the environment.

    python -m tests.hardening.beat_driver setup <port> <nodes>
    python -m tests.hardening.beat_driver report
    python -m tests.hardening.beat_driver probe <name>    (a PeriodicTask every second)
"""
import json
import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from django.db.models.functions import TruncMinute  # noqa: E402
from django.utils import timezone  # noqa: E402

from monitoring.models import Node, Snapshot  # noqa: E402
from orchestration import services  # noqa: E402
from orchestration.models import Run  # noqa: E402
from tenants.models import Tenant  # noqa: E402

INTERVAL_SECONDS = 10
DEFINITION = """
name: every-minute
schedule: "* * * * *"
steps:
  - {id: a, satellite: echo, inputs: {message: tick}}
"""


def main(command: str, *args: str) -> object:
    if command == "setup":
        port, count = int(args[0]), int(args[1])
        tenant = Tenant.objects.create(name="Two beats", slug="two-beats")
        Node.objects.bulk_create(
            Node(tenant=tenant, name=f"n{i}", address="127.0.0.1", port=port, path=f"/ok?n={i}",
                 interval_seconds=INTERVAL_SECONDS, timeout_seconds=2, next_check_at=timezone.now())
            for i in range(count)
        )
        cluster = services.cluster_create(tenant=tenant, definition=DEFINITION)
        return {"cluster_id": str(cluster.pk)}
    if command == "report":
        checks = {}
        for node_id, checked_at in Snapshot.objects.order_by("checked_at").values_list("node_id", "checked_at"):
            checks.setdefault(str(node_id), []).append(checked_at.timestamp())
        runs = {}
        for minute in Run.objects.filter(trigger=Run.Trigger.SCHEDULE).annotate(
            minute=TruncMinute("created_at")
        ).values_list("minute", flat=True):
            runs[minute.isoformat()] = runs.get(minute.isoformat(), 0) + 1
        return {"checks": checks, "scheduled_runs_per_minute": runs}
    if command == "probe":
        from django_celery_beat.models import IntervalSchedule, PeriodicTask

        every, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
        task = PeriodicTask.objects.create(
            name=args[0], task="monitoring.tasks.heartbeat", interval=every, kwargs=json.dumps({"key": args[0]})
        )
        return {"id": task.pk}
    raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:])))

"""Seeded fleet history for the console's node and group pages: checks over days, rolled up
as the rollup task would, and incidents."""
from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from monitoring.models import Incident, Node, Snapshot, Status
from monitoring.rollups import snapshots_rollup


def status_at(index: int) -> str:
    """A steady pattern: mostly up, every 11th check degraded, every 17th down."""
    if index % 17 == 16:
        return Status.DOWN
    if index % 11 == 10:
        return Status.DEGRADED
    return Status.UP


def seed_history(node: Node, *, hours: float, every_minutes: float = 10, offset: int = 0) -> list[Snapshot]:
    """Checks of `node` every `every_minutes` over the last `hours`, oldest first."""
    now = timezone.now()
    count = int(hours * 60 / every_minutes)
    rows = []
    for index in range(count):
        status = status_at(index + offset)
        rows.append(Snapshot(
            tenant_id=node.tenant_id, node=node, checked_at=now - timedelta(minutes=every_minutes * (count - index)),
            status=status, latency_ms=None if status == Status.DOWN else 20.0 + (index * 7) % 60,
            http_status=None if status == Status.DOWN else 200,
            error="connection refused" if status == Status.DOWN else "",
        ))
    return Snapshot.objects.bulk_create(rows)


def roll_up() -> None:
    snapshots_rollup(now=timezone.now())


def seed_incidents(node: Node, *, count: int) -> None:
    now = timezone.now()
    Incident.objects.bulk_create([
        Incident(tenant_id=node.tenant_id, node=node, title=f"{node.name} is down", cause="connection refused",
                 opened_at=now - timedelta(hours=5 * (i + 1)), resolved_at=now - timedelta(hours=5 * (i + 1) - 1),
                 state=Incident.State.RESOLVED)
        for i in range(count)
    ])

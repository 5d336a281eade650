"""Run status events for the live views, through core's one publisher (no monitoring import)."""

from __future__ import annotations

from core import events
from orchestration.models import Run


def publish_run_status(run: Run) -> None:
    """Push the run's status on the monitoring WebSocket once the transaction commits."""
    payload = {
        "id": str(run.id),
        "kind": run.kind,
        "cluster_id": str(run.cluster_id) if run.cluster_id else None,
        "status": run.status,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }
    events.publish_on_commit(events.Event(tenant_id=str(run.tenant_id), name="run.status", data=payload))

"""Run status events for the live views, through core's one publisher (no monitoring import),
and `run_status_changed`, the in-process signal for apps above orchestration that follow runs."""

from __future__ import annotations

from django.dispatch import Signal

from core import events
from orchestration.models import Run

# Sent with `run=` on every run status change (started, finished, cancelled), inside the
# transaction that made it and under the run's row lock: a receiver's writes commit with the
# change or not at all. Receivers must be quick and must not raise (deployments follows its
# deploy runs with it).
run_status_changed = Signal()


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
    run_status_changed.send(sender=Run, run=run)

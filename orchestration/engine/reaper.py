"""The reaper's passes (`orchestration.reap` on beat, `manage.py reap_runs`): time out steps
whose worker vanished, send again steps whose message was lost, finish what a crash between a
completion and its follow-up left undone, count lost deliveries, purge old idempotency records.
Each item is its own short transaction; a failing one is logged and the pass goes on.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef

from orchestration.clock import IDEMPOTENCY_TTL, now
from orchestration.engine.completion import Attempt, Outcome, step_complete
from orchestration.engine.dispatch import maybe_finish, propagate, ready_steps, release, send_on_commit
from orchestration.engine.graph import graph_for, run_context
from orchestration.engine.logs import step_log
from orchestration.engine.transactions import lock_run, retrying
from orchestration.models import TERMINAL_STEP_STATUSES, IdempotencyRecord, Run, RunStatus, StepLog, StepRun, StepStatus

logger = logging.getLogger("groundstation.orchestration")


def _isolated(func, what: str, pk) -> int:
    """One item of a reaper pass: a failure is logged and the pass goes on with the others."""
    try:
        return retrying(func) or 0
    except Exception:
        logger.exception("reaper could not %s", what, extra={"pk": str(pk)})
        return 0


def steps_reap(*, at=None) -> int:
    """Time out steps whose worker never reported back (killed, lost) and fail their runs.

    No retry here: the step may have had side effects before its worker died.
    """
    at = at or now()
    reaped = 0
    # The partial index on running steps' deadlines.
    for step_pk, run_pk in StepRun.objects.filter(status=StepStatus.RUNNING, deadline_at__lt=at).values_list(
        "pk", "run_id"
    )[:500]:
        reaped += _isolated(partial(_reap_one, step_pk, run_pk, at), "time out a step", step_pk)
    IdempotencyRecord.objects.filter(created_at__lt=at - IDEMPOTENCY_TTL).delete()
    return reaped


def step_lost(*, step_pk, task_id: str) -> bool:
    """The worker running this delivery was lost (killed, out of memory, past its hard time
    limit); called by the worker's main process. A claimed step is left to the reaper's
    timeout. An unclaimed (pure) one is still `queued` and would be handed out again for ever
    — a step that kills its worker kills every worker it reaches — so the losses are counted
    and past ORCHESTRATION_MAX_REDELIVERIES the step fails. Returns whether it failed it."""

    current = StepRun.objects.filter(pk=step_pk, task_id=task_id, status=StepStatus.QUEUED)
    if not current.update(redeliveries=F("redeliveries") + 1):
        return False
    row = current.values_list("redeliveries", "run_id", "step_id", "attempts").first()
    if row is None or row[0] <= settings.ORCHESTRATION_MAX_REDELIVERIES:
        return False
    lost, run_pk, step_id, attempts = row
    context = run_context(str(run_pk))
    if context is None or step_id not in context.graph.steps:
        return False
    error = (
        f"its worker was lost {lost} times while running it (killed, out of memory or past its hard "
        f"time limit): given up after {lost - 1} redeliveries"
    )
    attempt = Attempt(str(step_pk), task_id, context, step_id, attempts + 1, "", claimed=False, started_at=now())
    step_complete(attempt, Outcome(StepStatus.FAILED, error=error, retryable=False, log_line=error))
    return True


def steps_resend(*, at=None) -> int:
    """Send again the steps still `queued` long after they became due: their message was lost
    between commit and publish (broker down, process killed). The claim token stays the same,
    so if the first message does turn up, only one of the two runs the step."""

    at = at or now()
    cutoff = at - timedelta(seconds=settings.ORCHESTRATION_RESEND_AFTER_SECONDS)
    stale = StepRun.objects.filter(status=StepStatus.QUEUED, queued_at__lt=cutoff, run__status=RunStatus.RUNNING)
    resent = 0
    for row in stale.values_list("pk", "task_id", "run_id", "step_id", "attempts")[:500]:
        resent += _isolated(partial(_resend_one, *row, at=at), "re-send a step", row[0])
    return resent


@transaction.atomic
def _resend_one(step_pk, token: str, run_pk, step_id: str, attempts: int, *, at) -> int:
    # Restart the clock first, so a step is re-sent at most once per period.
    if not StepRun.objects.filter(pk=step_pk, status=StepStatus.QUEUED, task_id=token).update(queued_at=at):
        return 0
    context = run_context(str(run_pk))
    if context is None:  # deleted meanwhile
        return 0
    send_on_commit(Run(id=run_pk), context.graph, [(step_pk, token, step_id, attempts)])
    logger.warning("re-sent a queued step whose message was lost", extra={"step": str(step_pk), "task_id": token})
    return 1


def runs_repair(*, limit: int = 100) -> int:
    """Finish what a crash between a step's recorded completion and its follow-up transaction
    left undone: dependents that became ready but were never released, and runs whose steps
    all ended but that never finished. Returns how many runs were looked at."""
    stalled = set(
        StepRun.objects.filter(
            run__status=RunStatus.RUNNING, status=StepStatus.PENDING, remaining_deps=0, is_handler=False
        ).values_list("run_id", flat=True)[:limit]
    )
    open_main_steps = StepRun.objects.filter(run=OuterRef("pk"), is_handler=False).exclude(
        status__in=TERMINAL_STEP_STATUSES
    )
    stalled |= set(
        Run.objects.filter(status=RunStatus.RUNNING)
        .exclude(Exists(open_main_steps))
        .values_list("pk", flat=True)[:limit]
    )
    for run_pk in stalled:
        _isolated(partial(_repair_one, run_pk), "repair a run", run_pk)
    return len(stalled)


@transaction.atomic
def _repair_one(run_pk) -> None:
    run = lock_run(run_pk)
    if run is None or run.status != RunStatus.RUNNING:
        return
    graph = graph_for(run)
    ready = ready_steps(run.steps.filter(status=StepStatus.PENDING, remaining_deps=0, is_handler=False))
    if ready:
        release(run, graph, ready)
    else:
        maybe_finish(run, graph)


@transaction.atomic
def _reap_one(step_pk, run_pk, at) -> int:
    run = lock_run(run_pk)
    step = StepRun.objects.filter(pk=step_pk).first()
    if (
        run is None
        or step is None
        or step.status != StepStatus.RUNNING
        or not step.deadline_at
        or step.deadline_at >= at
    ):
        return 0
    step.status = StepStatus.TIMED_OUT
    step.error = "no result before the deadline: the worker was lost or the step overran its timeout"
    step.finished_at = at
    step.save(update_fields=["status", "error", "finished_at"])
    step_log(run_id=run.id, step_id=step.step_id, attempt=step.attempts, level=StepLog.Level.ERROR, message=step.error)
    if run.status == RunStatus.RUNNING:
        graph = graph_for(run)
        if propagate(run, graph, [(step.step_id, step.status)]):
            maybe_finish(run, graph)
    return 1

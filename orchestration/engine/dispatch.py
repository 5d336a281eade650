"""Admitting runs and advancing their DAG: queue or skip the steps that became ready, send
them to Celery once the transaction commits, finish the run when its steps have ended.

Everything here runs under the run's exclusive row lock (`transactions.lock_run`), taken by
the caller. Advancing a run is proportional to the edges touched, never to the DAG's size:
each step keeps counters of unfinished and failed upstream steps, and a step whose counter
reaches zero is queued (or skipped, by its join rule).
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from functools import partial
from typing import NamedTuple

from celery import current_app
from django.db import transaction
from django.db.models import Min
from kombu.exceptions import OperationalError as KombuOperationalError

from core.api.exceptions import Conflict
from orchestration import step_sql
from orchestration.clock import now
from orchestration.engine.events import publish_run_status
from orchestration.engine.graph import Graph, graph_for
from orchestration.engine.logs import step_log, write_logs
from orchestration.models import (
    TERMINAL_STEP_STATUSES,
    AgentTask,
    Cluster,
    Run,
    RunStatus,
    StepLog,
    StepRun,
    StepStatus,
)

logger = logging.getLogger("groundstation.orchestration")

EXECUTE_STEP_TASK = "orchestration.execute_step"  # orchestration.tasks.execute_step, by name: tasks import the engine
HARD_LIMIT_GRACE_SECONDS = 15  # Celery's time_limit kills a prefork child this long after the soft limit
FAILING = (StepStatus.FAILED, StepStatus.TIMED_OUT, StepStatus.SKIPPED, StepStatus.CANCELLED)


# --- Creating and admitting runs ----------------------------------------------------------------
def materialize(run: Run, graph: Graph) -> None:
    step_sql.insert_steps(
        run_pk=run.pk,
        rows=[
            (step["id"], step["satellite"], position, step.get("handler", False), len(step["depends_on"]))
            for position, step in enumerate(graph.steps.values())
        ],
    )


def admit(run: Run, graph: Graph) -> None:
    """Start the run now, or keep it queued / refuse it under the cluster's concurrency limit."""
    limit = graph.concurrency
    if limit and run.cluster_id:
        active = Run.objects.filter(cluster_id=run.cluster_id, status=RunStatus.RUNNING).exclude(pk=run.pk).count()
        waiting = (
            Run.objects.filter(cluster_id=run.cluster_id, status=RunStatus.QUEUED, created_at__lt=run.created_at)
            .exclude(pk=run.pk)
            .exists()
        )
        if active >= limit["limit"] or waiting:
            if limit["policy"] == "reject":
                raise Conflict(
                    f"The cluster already has {active} active run(s), its concurrency limit; try again later."
                )
            run.status = RunStatus.QUEUED
            run.save(update_fields=["status"])
            step_log(run_id=run.id, step_id="", attempt=0, message="waiting for a concurrency slot")
            return
    start(run, graph)


def start(run: Run, graph: Graph) -> None:
    # `started_at` stays empty until a step starts on a worker (step_claim, finish): a run is
    # running from here on, but it started when its work did, not when it was queued.
    run.status = RunStatus.RUNNING
    run.finished_at = None
    run.error = ""
    run.save(update_fields=["status", "finished_at", "error"])
    publish_run_status(run)
    release(run, graph, ready_steps(run.steps.filter(is_handler=False, status=StepStatus.PENDING, remaining_deps=0)))


class ReadyStep(NamedTuple):
    pk: object
    step_id: str
    attempts: int
    failed_deps: int
    is_handler: bool


def ready_steps(steps) -> list[ReadyStep]:
    return [ReadyStep(*row) for row in steps.values_list("pk", "step_id", "attempts", "failed_deps", "is_handler")]


# --- Advancing the DAG ----------------------------------------------------------------------------
def skips(graph: Graph, step: ReadyStep) -> bool:
    return bool(step.failed_deps) and graph.steps[step.step_id].get("join", "all_success") == "all_success"


def skip(run: Run, steps: list[ReadyStep]) -> None:
    if not steps:
        return
    error = "skipped: an upstream step did not succeed"
    StepRun.objects.filter(pk__in=[step.pk for step in steps]).update(
        status=StepStatus.SKIPPED, finished_at=now(), error=error
    )
    write_logs([StepLog(run_id=run.id, step_id=step.step_id, attempt=0, message=error) for step in steps])


def release(run: Run, graph: Graph, ready: list[ReadyStep], *, carried: dict | None = None) -> None:
    """Queue or skip steps whose upstream steps have all ended, then propagate and finish.
    Runs under the run's exclusive lock."""
    queued, skipped = advance(run, graph, ready, carried=carried)
    if skipped:
        if propagate(run, graph, skipped):
            maybe_finish(run, graph)
    elif not queued:  # a run with a step just queued cannot be finished
        maybe_finish(run, graph)


def advance(
    run: Run, graph: Graph, ready: list[ReadyStep], *, carried: dict | None = None
) -> tuple[bool, list[tuple[str, str]]]:
    """Skip the ready steps their join rule skips, queue the others (an `on_failure` step only
    once the main steps are done). Returns (queued any, the skipped steps as ended steps)."""
    skipped = [step for step in ready if skips(graph, step)]
    skip(run, skipped)
    to_queue = [step for step in ready if not skips(graph, step) and (not step.is_handler or main_done(run))]
    queue_many(run, graph, to_queue, carried=carried)
    return bool(to_queue), [(step.step_id, StepStatus.SKIPPED) for step in skipped]


def queue_many(
    run: Run, graph: Graph, steps: list[ReadyStep], *, countdown: float = 0, carried: dict | None = None
) -> None:
    """Give each step a fresh claim token and send it once the transaction commits."""
    if not steps:
        return
    stamp = now() + timedelta(seconds=countdown)  # when the attempt becomes due
    tokens = [uuid.uuid4().hex for _ in steps]
    step_sql.queue(tokens=[(step.pk, token) for step, token in zip(steps, tokens, strict=True)], queued_at=stamp)
    send_on_commit(
        run,
        graph,
        [(step.pk, token, step.step_id, step.attempts) for step, token in zip(steps, tokens, strict=True)],
        countdown=countdown,
        carried=carried,
    )


def send_on_commit(
    run: Run, graph: Graph, queued: list[tuple], *, countdown: float = 0, carried: dict | None = None
) -> None:
    """Send queued steps [(pk, claim token, step id, attempts so far)] once the transaction
    commits, with the `carried` upstream outputs ({step id: output}) each one uses."""
    if not queued:
        return
    carried = carried or {}
    sends = [
        StepMessage(
            str(pk),
            token,
            str(run.pk),
            step_id,
            attempts + 1,
            int(graph.steps[step_id]["timeout_seconds"]),
            {sid: carried[sid] for sid in graph.wants[step_id] if sid in carried} or None,
        )
        for pk, token, step_id, attempts in queued
    ]
    transaction.on_commit(partial(send_all, sends, countdown))


class StepMessage(NamedTuple):
    step_pk: str
    task_id: str
    run_pk: str
    step_id: str
    attempt: int
    timeout: int
    outputs: dict | None = None  # upstream outputs its inputs use, when small (CARRIED_OUTPUT_BYTES)


def send_all(sends: list[StepMessage], countdown: float) -> None:
    """Publish committed steps. A broker that is down leaves them `queued`: the reaper sends
    them again once they are ORCHESTRATION_RESEND_AFTER_SECONDS overdue (the work was saved, so
    this is no error for whoever committed it)."""
    try:
        publish_all(sends, countdown)
    except (KombuOperationalError, OSError) as exc:
        logger.error(
            "broker unreachable: steps left queued for the reaper to send again",
            extra={"steps": len(sends), "error": type(exc).__name__},
        )


def publish_all(sends: list[StepMessage], countdown: float) -> None:
    execute_step = current_app.tasks[EXECUTE_STEP_TASK]
    # One producer (one broker connection) for the whole batch, as Celery's group() does: a
    # 1,000-wide fan-out otherwise pays a pool checkout per message.
    with execute_step.app.producer_or_acquire() as producer:
        for message in sends:
            execute_step.apply_async(
                args=[message.step_pk],
                kwargs={
                    "run_pk": message.run_pk,
                    "step_id": message.step_id,
                    "attempt": message.attempt,
                    **({"outputs": message.outputs} if message.outputs else {}),
                },
                task_id=message.task_id,
                # What monitoring tools show; given, so Celery does not repr() every message.
                argsrepr=f"('{message.step_pk}',)",
                kwargsrepr=repr({"run_pk": message.run_pk, "step_id": message.step_id, "attempt": message.attempt}),
                countdown=countdown or None,
                soft_time_limit=message.timeout,
                time_limit=message.timeout + HARD_LIMIT_GRACE_SECONDS,
                producer=producer,
            )


def propagate(run: Run, graph: Graph, ended: list[tuple[str, str]], *, carried: dict | None = None) -> bool:
    """Worklist over ended steps (step id, status): count down their dependents and release
    those now ready. Proportional to the edges touched, never to the size of the run.

    Returns whether the run may now be finished (nothing was queued and no dependent still
    waits); the caller then settles it under the run's exclusive lock.
    """
    work = list(ended)
    queued_any = False
    waiting = False  # a dependent still waits for other upstream steps: the run cannot be done
    while work:
        step_id, status = work.pop()
        dependents = graph.dependents.get(step_id) or []
        if not dependents:
            continue
        rows = step_sql.count_down(run_pk=run.pk, dependents=dependents, failed=status != StepStatus.SUCCEEDED)
        ready, still_waiting = ready_from_counts(rows)
        waiting = waiting or still_waiting
        queued, skipped = advance(run, graph, ready, carried=carried)
        queued_any = queued_any or queued
        work.extend(skipped)
    return not queued_any and not waiting


def ready_from_counts(rows: list[tuple]) -> tuple[list[ReadyStep], bool]:
    """From count-down rows: the dependents now ready, and whether any still waits."""
    ready = [ReadyStep(*row[:5]) for row in rows if row[5] == StepStatus.PENDING and row[6] == 0]
    return ready, any(row[6] > 0 for row in rows)


def main_done(run: Run) -> bool:
    return not run.steps.filter(is_handler=False).exclude(status__in=TERMINAL_STEP_STATUSES).exists()


def maybe_finish(run: Run, graph: Graph) -> None:
    if run.status != RunStatus.RUNNING:
        return
    # One query for "are the main steps done?" and "which failed?": the main steps that did
    # not succeed (none at all in a run that went well).
    unsuccessful = list(
        run.steps.filter(is_handler=False)
        .exclude(status=StepStatus.SUCCEEDED)
        .order_by("finished_at")
        .values_list("step_id", "status", "error")
    )
    if any(status not in TERMINAL_STEP_STATUSES for _, status, _ in unsuccessful):
        return
    failing = [row for row in unsuccessful if row[1] in FAILING]
    handlers = run.steps.filter(is_handler=True)
    if failing:
        ready = ready_steps(handlers.filter(status=StepStatus.PENDING, remaining_deps=0))
        if ready:
            # By their join rule: an on_failure step after a failed on_failure step may be skipped.
            queued, skipped = advance(run, graph, ready)
            if queued:
                count = len(ready) - len(skipped)
                step_log(run_id=run.id, step_id="", attempt=0, message=f"running {count} on_failure step(s)")
                return
            propagate(run, graph, skipped)
            maybe_finish(run, graph)  # each pass ends at least one step, so this terminates
            return
        if handlers.exclude(status__in=TERMINAL_STEP_STATUSES).exists():
            return
        real = [f for f in failing if f[1] != StepStatus.SKIPPED] or failing
        only_timeouts = all(status == StepStatus.TIMED_OUT for _, status, _ in real)
        first = real[0]
        error = f"step {first[0]} {first[1].replace('_', ' ')}: {first[2]}".strip().rstrip(":")
        finish(run, RunStatus.TIMED_OUT if only_timeouts else RunStatus.FAILED, error=error)
    else:
        if any(step.get("handler") for step in graph.steps.values()):
            handlers.filter(status=StepStatus.PENDING).update(
                status=StepStatus.SKIPPED, finished_at=now(), error="skipped: the run succeeded"
            )
        finish(run, RunStatus.SUCCEEDED)


def finish(run: Run, status: str, *, error: str = "") -> None:
    run.status = status
    run.finished_at = now()
    run.error = error[:4000]
    # The earliest step start: side-effect-free steps record theirs only with their result.
    first = run.steps.filter(started_at__isnull=False).aggregate(first=Min("started_at"))["first"]
    if first is not None and (run.started_at is None or first < run.started_at):
        run.started_at = first
    run.save(update_fields=["status", "started_at", "finished_at", "error"])
    step_log(
        run_id=run.id,
        step_id="",
        attempt=0,
        message=f"run {status.replace('_', ' ')}" + (f": {error}" if error else ""),
    )
    publish_run_status(run)
    if run.kind == Run.Kind.EXECUTION:
        sync_agent_task(run)
    if run.cluster_id:
        start_waiting_runs(run.cluster_id)


def start_waiting_runs(cluster_id) -> None:
    """A slot freed up: start the oldest queued runs of the cluster, up to its limit."""
    cluster = Cluster.objects.select_for_update().filter(pk=cluster_id).first()
    if cluster is None:
        return
    limit = (cluster.spec or {}).get("concurrency")
    free = None  # no limit (any more): start every waiting run
    if limit:
        free = limit["limit"] - Run.objects.filter(cluster_id=cluster_id, status=RunStatus.RUNNING).count()
        if free <= 0:
            return
    waiting = (
        Run.objects.select_for_update(skip_locked=True)
        .filter(cluster_id=cluster_id, status=RunStatus.QUEUED)
        .order_by("created_at")[:free]
    )
    for waiting_run in waiting:
        start(waiting_run, graph_for(waiting_run))


def sync_agent_task(run: Run) -> None:
    step = run.steps.first()
    if run.status == RunStatus.SUCCEEDED:
        AgentTask.objects.filter(execution=run).update(
            status=AgentTask.Status.COMPLETED, result=step.output if step else None, finished_at=run.finished_at
        )
    else:
        AgentTask.objects.filter(execution=run).update(
            status=AgentTask.Status.FAILED, error=run.error or run.status, finished_at=run.finished_at
        )


def revoke(task_ids: list[str]) -> None:
    if not task_ids:
        return
    try:
        current_app.control.revoke(task_ids)
    except Exception:  # best effort: the claim check stops a revoked-too-late task anyway
        logger.warning("revoke failed", exc_info=True)

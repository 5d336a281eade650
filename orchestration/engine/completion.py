"""Recording an attempt's outcome and advancing the run from it: retry, end the step, release
its dependents, finish the run. Runs in the worker, after the satellite returned.

The claim check makes steps exactly-once: a claimed attempt is recorded only while its step is
still `running` under the attempt's claim token, an unclaimed (pure) one only while it is still
`queued` under it, so a redelivered, cancelled or reaped attempt's result is discarded.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import partial

from django.db import transaction

from orchestration import step_sql
from orchestration.clock import now
from orchestration.engine.dispatch import (
    ReadyStep,
    maybe_finish,
    queue_many,
    ready_from_counts,
    ready_steps,
    release,
    send_on_commit,
)
from orchestration.engine.graph import RunContext, graph_for
from orchestration.engine.logs import MAX_LOG_CHARS
from orchestration.engine.transactions import lock_run, retrying
from orchestration.models import Run, RunStatus, StepLog, StepRun, StepStatus

# An output up to this size travels in its dependents' messages, sparing them a query.
CARRIED_OUTPUT_BYTES = 8 * 1024


def retry_delay(policy: dict, attempt: int) -> float:
    """Delay before attempt `attempt + 1`, per the step's backoff, cap and jitter."""
    base = float(policy.get("delay_seconds", 0))
    backoff = policy.get("backoff", "exponential")
    if backoff == "linear":
        delay = base * attempt
    elif backoff == "exponential":
        delay = base * (2 ** (attempt - 1))
    else:
        delay = base
    delay = min(delay, float(policy.get("max_delay_seconds", delay)))
    jitter = float(policy.get("jitter", 0))
    if jitter:
        # "Equal jitter": keep (1 - jitter) of the delay, randomise the rest, so retries of many
        # failed steps spread out without ever retrying immediately.
        delay = delay * (1 - jitter) + random.uniform(0, delay * jitter)
    return round(delay, 3)


@dataclass
class Outcome:
    status: str
    output: object = None
    error: str = ""
    retryable: bool = True
    log_line: str = ""  # written in the completing transaction
    output_bytes: int = 0


@dataclass
class Attempt:
    """One delivery of a step to a worker, as the worker sees it."""

    step_pk: str
    task_id: str
    run: RunContext
    step_id: str
    number: int
    worker: str
    claimed: bool  # a durable claim was committed (impure satellites); pure ones claim on completion
    started_at: object = None
    logs: list = field(default_factory=list)  # buffered lines of an unclaimed attempt


def _attempt_log(current: Attempt, outcome: Outcome, *, retry_in: float | None, max_attempts: int) -> list[tuple]:
    """The attempt's log lines still to write, as (run, step, attempt, level, message)."""
    lines = [(current.run.pk, line.step_id, line.attempt, line.level, line.message) for line in current.logs]
    if not current.claimed:
        lines.insert(
            0,
            (
                current.run.pk,
                current.step_id,
                current.number,
                StepLog.Level.INFO,
                f"attempt {current.number} started on {current.worker or 'a worker'}",
            ),
        )
    if outcome.log_line:
        level = StepLog.Level.INFO if outcome.status == StepStatus.SUCCEEDED else StepLog.Level.ERROR
        lines.append((current.run.pk, current.step_id, current.number, level, outcome.log_line))
    if retry_in is not None:
        lines.append(
            (
                current.run.pk,
                current.step_id,
                current.number,
                StepLog.Level.WARNING,
                f"retrying in {retry_in:g}s (attempt {current.number + 1} of {max_attempts})",
            )
        )
    return [(*line[:4], line[4][:MAX_LOG_CHARS]) for line in lines]


def step_complete(current: Attempt, outcome: Outcome) -> None:
    """Record an attempt's outcome and advance the run (retry, end the step, release dependents).

    A claimed attempt must still be `running` under its token; an unclaimed (pure) one must
    still be `queued` under its token, and becomes the step's recorded attempt here. Anything
    else (cancelled, reaped, a duplicate delivery that lost the race) is discarded.

    The record — outcome, log lines, dependents' counters, and queueing the dependents whose
    last upstream step this was — is one statement on PostgreSQL, committed on its own: it
    holds the run's row lock in *share* mode, so steps of one run complete in parallel while
    operator actions wait. What may follow (re-queueing a retry, skips by join rule, on_failure
    steps, finishing the run) runs in short transactions under the run's exclusive lock; if a
    crash comes in between, the reaper finishes the job (`runs_repair`, `steps_resend`).
    """
    graph = current.run.graph
    spec = graph.steps[current.step_id]
    policy = spec["retries"]
    retry = (
        outcome.status in (StepStatus.FAILED, StepStatus.TIMED_OUT)
        and outcome.retryable
        and current.number < policy["max_attempts"]
    )
    fields = {"error": outcome.error}
    if not retry:
        fields.update(
            status=outcome.status,
            output=outcome.output if outcome.status == StepStatus.SUCCEEDED else None,
            error="" if outcome.status == StepStatus.SUCCEEDED else outcome.error,
            finished_at=now(),
        )
    if not current.claimed:
        fields.update(attempts=current.number, started_at=current.started_at, worker=current.worker)
    delay = retry_delay(policy, current.number) if retry else None
    record = partial(
        _record,
        current,
        fields=fields,
        logs=_attempt_log(current, outcome, retry_in=delay, max_attempts=policy["max_attempts"]),
        dependents=[] if retry else graph.dependents.get(current.step_id) or [],
        failed=outcome.status != StepStatus.SUCCEEDED,
    )
    recorded, counted = retrying(record)
    if not recorded:
        return  # cancelled, reaped, deleted or already recorded meanwhile: the result is discarded
    if retry:
        retrying(partial(_requeue, current, delay))
        return
    small = outcome.status == StepStatus.SUCCEEDED and outcome.output_bytes <= CARRIED_OUTPUT_BYTES
    carried = {current.step_id: outcome.output} if small else None
    run = Run(id=current.run.pk, status=RunStatus.RUNNING)
    queued_by_sql = [(row[0], row[7], row[1], row[2]) for row in counted if row[5] == StepStatus.QUEUED and not row[6]]
    send_on_commit(run, graph, queued_by_sql, carried=carried)  # committed already: sends now
    ready, waiting = ready_from_counts(counted)
    if ready:
        retrying(partial(_release_ready, run.pk, [step.pk for step in ready], carried))
    elif not queued_by_sql and not waiting:
        retrying(partial(run_settle, run.pk))


def _record(current: Attempt, *, fields: dict, logs: list, dependents: list[str], failed: bool):
    complete = partial(
        step_sql.complete,
        run_pk=current.run.pk,
        step_pk=current.step_pk,
        task_id=current.task_id,
        expected_status=StepStatus.RUNNING if current.claimed else StepStatus.QUEUED,
        fields=fields,
        logs=logs,
        created_at=now(),
        dependents=dependents,
        failed=failed,
        durable=current.claimed,  # a pure step's outcome may be lost in a crash: it is sent again
    )
    if step_sql.single_statement():
        return complete()  # atomic by itself
    with transaction.atomic():
        return complete()


@transaction.atomic
def _requeue(current: Attempt, delay: float) -> None:
    """Queue the step's next attempt, unless the run was cancelled meanwhile."""
    run = lock_run(current.run.pk)
    expected = StepStatus.RUNNING if current.claimed else StepStatus.QUEUED
    if run is None or run.status != RunStatus.RUNNING:
        return
    if not StepRun.objects.filter(pk=current.step_pk, task_id=current.task_id, status=expected).exists():
        return
    step = ReadyStep(current.step_pk, current.step_id, current.number, 0, False)
    queue_many(run, current.run.graph, [step], countdown=delay)


@transaction.atomic
def _release_ready(run_pk, step_pks: list, carried: dict | None) -> None:
    """Release dependents the completion statement left to the engine (skips, on_failure)."""
    run = lock_run(run_pk)
    if run is None or run.status != RunStatus.RUNNING:
        return
    ready = ready_steps(StepRun.objects.filter(pk__in=step_pks, status=StepStatus.PENDING, remaining_deps=0))
    release(run, graph_for(run), ready, carried=carried)


@transaction.atomic
def run_settle(run_pk) -> None:
    """Finish the run if all its steps have ended, under its exclusive lock. Runs in its own
    transaction after a completion committed, so the last completion to commit always sees
    every other step's final state."""
    run = lock_run(run_pk)
    if run is not None and run.status == RunStatus.RUNNING:
        maybe_finish(run, graph_for(run))

"""The run engine: a DAG of steps advanced on Celery, one short transaction per transition.

- Every transition of a run happens under that run's row lock (`select_for_update`), so
  concurrent step completions never race; no worker ever waits for another task.
- Each step keeps counters of unfinished and failed upstream steps; when a step ends, its
  dependents' counters drop and the ones that reach zero are queued (or skipped, by their join
  rule). Advancing a run is therefore proportional to the edges touched, not to the DAG size.
- A queued step carries a fresh Celery task id, its *claim token*. A worker runs a step only
  after a conditional UPDATE `status=queued AND task_id=<token> → running` changed exactly one
  row, so a redelivered message (acks_late after a worker died) never repeats side effects.
- Tasks are sent on commit; timeouts are enforced by Celery time limits, cooperative checks in
  the satellites, and the reaper for steps whose worker vanished.
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache, partial
from typing import NamedTuple

from celery.exceptions import SoftTimeLimitExceeded
from django.db import OperationalError, connection, transaction
from django.db.models import Exists, F, Min, OuterRef
from kombu.exceptions import OperationalError as KombuOperationalError
from rest_framework.exceptions import NotFound, ValidationError

from core.api.exceptions import Conflict
from core.audit import audit_record
from monitoring import live
from orchestration import step_sql, vault
from orchestration.budget import Budget, BudgetExceeded, json_size
from orchestration.definitions import SECRETS_REFUSED, check_run_inputs
from orchestration.models import (
    TERMINAL_STEP_STATUSES,
    AgentTask,
    Cluster,
    ClusterVersion,
    IdempotencyRecord,
    Run,
    RunStatus,
    Secret,
    StepLog,
    StepRun,
    StepStatus,
)
from orchestration.satellites import (
    SatelliteError,
    StepCancelled,
    StepContext,
    StepTimedOut,
    get_satellite,
    input_errors,
)
from orchestration.templating import TemplateError, references, render

logger = logging.getLogger("groundstation.orchestration")

EXECUTION_STEP_ID = "main"
DEADLINE_GRACE_SECONDS = 30  # after timeout_seconds, before the reaper calls a worker lost
HARD_LIMIT_GRACE_SECONDS = 15  # Celery's time_limit kills a prefork child this long after the soft limit
MAX_OUTPUT_BYTES = 512 * 1024
# An output up to this size travels in its dependents' messages, sparing them a query.
CARRIED_OUTPUT_BYTES = 8 * 1024
MAX_LOG_CHARS = 4000
IDEMPOTENCY_TTL = timedelta(hours=24)
FAILING = (StepStatus.FAILED, StepStatus.TIMED_OUT, StepStatus.SKIPPED, StepStatus.CANCELLED)


def now():
    from django.utils import timezone

    return timezone.now()


# --- The graph of a run -----------------------------------------------------------------------
@dataclass(frozen=True)
class Graph:
    steps: dict  # step id → normalised step spec
    dependents: dict  # step id → ids of steps that depend on it
    concurrency: dict | None
    wants: dict  # step id → ids of the steps whose outputs its inputs use


def _build_graph(spec: dict) -> Graph:
    steps = {s["id"]: s for s in spec["steps"] + spec.get("on_failure", [])}
    dependents: dict[str, list[str]] = {sid: [] for sid in steps}
    for step in steps.values():
        for dep in step["depends_on"]:
            dependents[dep].append(step["id"])
    wants = {
        sid: frozenset(
            ref.parts[0]
            for _, ref in references(step["inputs"])
            if not isinstance(ref, TemplateError) and ref.root == "steps"
        )
        for sid, step in steps.items()
    }
    return Graph(steps=steps, dependents=dependents, concurrency=spec.get("concurrency"), wants=wants)


@lru_cache(maxsize=256)
def _version_graph(version_id: str) -> Graph:
    # Versions are immutable, so their graphs are cached per process.
    return _build_graph(ClusterVersion.objects.values_list("spec", flat=True).get(pk=version_id))


def execution_spec(*, satellite: str, inputs: dict, timeout_seconds: int) -> dict:
    return {
        "steps": [
            {
                "id": EXECUTION_STEP_ID,
                "satellite": satellite,
                "inputs": inputs,
                "depends_on": [],
                "retries": {
                    "max_attempts": 1,
                    "backoff": "fixed",
                    "delay_seconds": 0,
                    "max_delay_seconds": 0,
                    "jitter": 0,
                },
                "timeout_seconds": timeout_seconds,
                "join": "all_success",
                "handler": False,
            }
        ],
        "on_failure": [],
        "concurrency": None,
    }


def graph_for(run: Run) -> Graph:
    if run.kind == Run.Kind.EXECUTION:
        return _execution_graph(run.satellite, run.inputs, run.timeout_seconds)
    return _version_graph(str(run.cluster_version_id))


def _execution_graph(satellite: str, inputs: dict, timeout_seconds: int | None) -> Graph:
    sat = get_satellite(satellite)
    timeout = timeout_seconds or (sat.default_timeout if sat else 300)
    return _build_graph(execution_spec(satellite=satellite, inputs=inputs, timeout_seconds=timeout))


@dataclass(frozen=True)
class RunContext:
    """What a worker needs of a run to execute its steps: the parts that never change."""

    pk: str
    tenant_id: str
    kind: str
    inputs: dict
    cluster_id: str | None
    version: int | None
    graph: Graph


@lru_cache(maxsize=256)
def run_context(run_pk: str) -> RunContext | None:
    # Immutable for the life of a run, so cached per worker process: a step of a known run
    # costs no query to set up.
    row = (
        Run.objects.filter(pk=run_pk)
        .values_list(
            "tenant_id", "kind", "inputs", "cluster_id", "version", "cluster_version_id", "satellite", "timeout_seconds"
        )
        .first()
    )
    if row is None:
        return None
    tenant_id, kind, inputs, cluster_id, version, version_id, satellite, timeout_seconds = row
    if kind == Run.Kind.EXECUTION:
        graph = _execution_graph(satellite, inputs, timeout_seconds)
    else:
        graph = _version_graph(str(version_id))
    return RunContext(
        pk=str(run_pk),
        tenant_id=str(tenant_id),
        kind=kind,
        inputs=inputs,
        cluster_id=str(cluster_id) if cluster_id else None,
        version=version,
        graph=graph,
    )


# --- Small helpers ----------------------------------------------------------------------------
def _retrying(func, *, attempts: int = 8):
    """Run a short DB operation, retrying transient lock errors (SQLite 'database is locked',
    PostgreSQL deadlock victims) so a busy database never loses a step's result."""
    for attempt in range(attempts):
        try:
            return func()
        except OperationalError:
            if attempt == attempts - 1:
                raise
            if not connection.in_atomic_block:
                # A broken connection (the server restarted) is not reopened by Django on its
                # own while it is still set: drop it so the next try connects afresh.
                connection.close_if_unusable_or_obsolete()
            time.sleep(0.05 * (2**attempt) * (0.5 + random.random()))


def _lock_run(run_pk) -> Run | None:
    if connection.vendor == "sqlite":
        # SQLite has no row locks: take the database write lock first, so the reads that
        # follow cannot go stale before our writes (SELECT … FOR UPDATE is a no-op there).
        Run.objects.filter(pk=run_pk).update(status=F("status"))
    return Run.objects.select_for_update().filter(pk=run_pk).first()


def _summary(value, limit: int = 200) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _mask(value, secrets: list[str]):
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, "***")
        return value
    if isinstance(value, dict):
        return {k: _mask(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v, secrets) for v in value]
    return value


def step_log(*, run_id, step_id: str, attempt: int, message: str, level: str = StepLog.Level.INFO) -> None:
    """Append one log line to a step (its own tiny transaction)."""
    line = StepLog(run_id=run_id, step_id=step_id, attempt=attempt, level=level, message=message)
    _retrying(lambda: _write_logs([line]))


def _write_logs(rows: list[StepLog]) -> None:
    """Append several log lines in one statement."""
    step_sql.append_logs(
        [(row.run_id, row.step_id, row.attempt, row.level, row.message[:MAX_LOG_CHARS]) for row in rows],
        created_at=now(),
    )


def _publish(run: Run) -> None:
    """Push the run's status on the monitoring WebSocket once the transaction commits."""
    payload = {
        "id": str(run.id),
        "kind": run.kind,
        "cluster_id": str(run.cluster_id) if run.cluster_id else None,
        "status": run.status,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }
    live.publish_on_commit(tenant_id=str(run.tenant_id), event="run.status", data=payload)


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


# --- Creating and admitting runs ----------------------------------------------------------------
def _materialize(run: Run, graph: Graph) -> None:
    rows = []
    for position, step in enumerate(graph.steps.values()):
        rows.append(
            StepRun(
                run=run,
                step_id=step["id"],
                satellite=step["satellite"],
                position=position,
                is_handler=step.get("handler", False),
                remaining_deps=len(step["depends_on"]),
            )
        )
    StepRun.objects.bulk_create(rows, batch_size=500)


def _admit(run: Run, graph: Graph) -> None:
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
    _start(run, graph)


def _start(run: Run, graph: Graph) -> None:
    # `started_at` stays empty until a step starts on a worker (step_claim, _finish): a run is
    # running from here on, but it started when its work did, not when it was queued.
    run.status = RunStatus.RUNNING
    run.finished_at = None
    run.error = ""
    run.save(update_fields=["status", "finished_at", "error"])
    _publish(run)
    _release(run, graph, _ready(run.steps.filter(is_handler=False, status=StepStatus.PENDING, remaining_deps=0)))


class ReadyStep(NamedTuple):
    pk: object
    step_id: str
    attempts: int
    failed_deps: int
    is_handler: bool


def _ready(steps) -> list[ReadyStep]:
    return [ReadyStep(*row) for row in steps.values_list("pk", "step_id", "attempts", "failed_deps", "is_handler")]


@transaction.atomic
def run_trigger(*, cluster: Cluster, inputs: dict | None, actor=None, trigger: str = Run.Trigger.API) -> Run:
    """Start (or queue) a run of the cluster's current version."""
    cluster = Cluster.objects.select_for_update().get(pk=cluster.pk)  # serialises concurrency decisions
    version = ClusterVersion.objects.get(cluster=cluster, version=cluster.version)
    values, errors = check_run_inputs(version.spec.get("inputs", {}), inputs)
    if errors:
        raise ValidationError(errors)
    run = Run.objects.create(
        tenant_id=cluster.tenant_id,
        kind=Run.Kind.CLUSTER,
        cluster=cluster,
        cluster_version=version,
        version=version.version,
        inputs=values,
        trigger=trigger,
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    graph = _version_graph(str(version.pk))
    _materialize(run, graph)
    _admit(run, graph)
    return run


@transaction.atomic
def execution_create(*, tenant, satellite: str, inputs: dict, timeout_seconds: int | None = None, actor=None) -> Run:
    """Run one satellite as a one-step execution; inputs must already be valid."""
    sat = get_satellite(satellite)
    errors = input_errors(sat, inputs)
    if errors:
        raise ValidationError(errors)
    run = Run.objects.create(
        tenant=tenant,
        kind=Run.Kind.EXECUTION,
        satellite=satellite,
        timeout_seconds=timeout_seconds,
        inputs=inputs,
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    graph = graph_for(run)
    _materialize(run, graph)
    _start(run, graph)
    return run


# --- Advancing the DAG ----------------------------------------------------------------------------
def _skips(graph: Graph, step: ReadyStep) -> bool:
    return bool(step.failed_deps) and graph.steps[step.step_id].get("join", "all_success") == "all_success"


def _skip(run: Run, steps: list[ReadyStep]) -> None:
    if not steps:
        return
    error = "skipped: an upstream step did not succeed"
    StepRun.objects.filter(pk__in=[step.pk for step in steps]).update(
        status=StepStatus.SKIPPED, finished_at=now(), error=error
    )
    _write_logs([StepLog(run_id=run.id, step_id=step.step_id, attempt=0, message=error) for step in steps])


def _release(run: Run, graph: Graph, ready: list[ReadyStep], *, carried: dict | None = None) -> None:
    """Queue or skip steps whose upstream steps have all ended, then propagate and finish.
    Runs under the run's exclusive lock."""
    queued, skipped = _advance(run, graph, ready, carried=carried)
    if skipped:
        if _propagate(run, graph, skipped):
            _maybe_finish(run, graph)
    elif not queued:  # a run with a step just queued cannot be finished
        _maybe_finish(run, graph)


def _advance(
    run: Run, graph: Graph, ready: list[ReadyStep], *, carried: dict | None = None
) -> tuple[bool, list[tuple[str, str]]]:
    """Skip the ready steps their join rule skips, queue the others (an `on_failure` step only
    once the main steps are done). Returns (queued any, the skipped steps as ended steps)."""
    skipped = [step for step in ready if _skips(graph, step)]
    _skip(run, skipped)
    to_queue = [step for step in ready if not _skips(graph, step) and (not step.is_handler or _main_done(run))]
    _queue_many(run, graph, to_queue, carried=carried)
    return bool(to_queue), [(step.step_id, StepStatus.SKIPPED) for step in skipped]


def _queue_many(
    run: Run, graph: Graph, steps: list[ReadyStep], *, countdown: float = 0, carried: dict | None = None
) -> None:
    """Give each step a fresh claim token and send it once the transaction commits."""
    if not steps:
        return
    stamp = now() + timedelta(seconds=countdown)  # when the attempt becomes due
    tokens = [uuid.uuid4().hex for _ in steps]
    step_sql.queue(tokens=[(step.pk, token) for step, token in zip(steps, tokens, strict=True)], queued_at=stamp)
    _send_on_commit(
        run,
        graph,
        [(step.pk, token, step.step_id, step.attempts) for step, token in zip(steps, tokens, strict=True)],
        countdown=countdown,
        carried=carried,
    )


def _send_on_commit(
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
    transaction.on_commit(partial(_send_all, sends, countdown))


class StepMessage(NamedTuple):
    step_pk: str
    task_id: str
    run_pk: str
    step_id: str
    attempt: int
    timeout: int
    outputs: dict | None = None  # upstream outputs its inputs use, when small (CARRIED_OUTPUT_BYTES)


def _send_all(sends: list[StepMessage], countdown: float) -> None:
    """Publish committed steps. A broker that is down leaves them `queued`: the reaper sends
    them again once they are ORCHESTRATION_RESEND_AFTER_SECONDS overdue (the work was saved, so
    this is no error for whoever committed it)."""
    try:
        _publish_all(sends, countdown)
    except (KombuOperationalError, OSError) as exc:
        logger.error(
            "broker unreachable: steps left queued for the reaper to send again",
            extra={"steps": len(sends), "error": type(exc).__name__},
        )


def _publish_all(sends: list[StepMessage], countdown: float) -> None:
    from orchestration.tasks import execute_step

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


def _propagate(run: Run, graph: Graph, ended: list[tuple[str, str]], *, carried: dict | None = None) -> bool:
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
        ready, still_waiting = _ready_from_counts(rows)
        waiting = waiting or still_waiting
        queued, skipped = _advance(run, graph, ready, carried=carried)
        queued_any = queued_any or queued
        work.extend(skipped)
    return not queued_any and not waiting


def _ready_from_counts(rows: list[tuple]) -> tuple[list[ReadyStep], bool]:
    """From count-down rows: the dependents now ready, and whether any still waits."""
    ready = [ReadyStep(*row[:5]) for row in rows if row[5] == StepStatus.PENDING and row[6] == 0]
    return ready, any(row[6] > 0 for row in rows)


def _main_done(run: Run) -> bool:
    return not run.steps.filter(is_handler=False).exclude(status__in=TERMINAL_STEP_STATUSES).exists()


def _maybe_finish(run: Run, graph: Graph) -> None:
    if run.status != RunStatus.RUNNING or not _main_done(run):
        return
    failing = list(
        run.steps.filter(is_handler=False, status__in=FAILING)
        .order_by("finished_at")
        .values_list("step_id", "status", "error")
    )
    handlers = run.steps.filter(is_handler=True)
    if failing:
        ready = _ready(handlers.filter(status=StepStatus.PENDING, remaining_deps=0))
        if ready:
            # By their join rule: an on_failure step after a failed on_failure step may be skipped.
            queued, skipped = _advance(run, graph, ready)
            if queued:
                count = len(ready) - len(skipped)
                step_log(run_id=run.id, step_id="", attempt=0, message=f"running {count} on_failure step(s)")
                return
            _propagate(run, graph, skipped)
            _maybe_finish(run, graph)  # each pass ends at least one step, so this terminates
            return
        if handlers.exclude(status__in=TERMINAL_STEP_STATUSES).exists():
            return
        real = [f for f in failing if f[1] != StepStatus.SKIPPED] or failing
        only_timeouts = all(status == StepStatus.TIMED_OUT for _, status, _ in real)
        first = real[0]
        error = f"step {first[0]} {first[1].replace('_', ' ')}: {first[2]}".strip().rstrip(":")
        _finish(run, RunStatus.TIMED_OUT if only_timeouts else RunStatus.FAILED, error=error)
    else:
        handlers.filter(status=StepStatus.PENDING).update(
            status=StepStatus.SKIPPED, finished_at=now(), error="skipped: the run succeeded"
        )
        _finish(run, RunStatus.SUCCEEDED)


def _finish(run: Run, status: str, *, error: str = "") -> None:
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
    _publish(run)
    if run.kind == Run.Kind.EXECUTION:
        _sync_agent_task(run)
    if run.cluster_id:
        _start_waiting_runs(run.cluster_id)


def _start_waiting_runs(cluster_id) -> None:
    """A slot freed up: start the oldest queued runs of the cluster, up to its limit."""
    cluster = Cluster.objects.select_for_update().filter(pk=cluster_id).first()
    if cluster is None:
        return
    limit = (cluster.spec or {}).get("concurrency") or {"limit": 10**9}
    active = Run.objects.filter(cluster_id=cluster_id, status=RunStatus.RUNNING).count()
    free = limit["limit"] - active
    if free <= 0:
        return
    waiting = (
        Run.objects.select_for_update(skip_locked=True)
        .filter(cluster_id=cluster_id, status=RunStatus.QUEUED)
        .order_by("created_at")[:free]
    )
    for waiting_run in waiting:
        _start(waiting_run, graph_for(waiting_run))


def _sync_agent_task(run: Run) -> None:
    step = run.steps.first()
    if run.status == RunStatus.SUCCEEDED:
        AgentTask.objects.filter(execution=run).update(
            status=AgentTask.Status.COMPLETED, result=step.output if step else None, finished_at=run.finished_at
        )
    else:
        AgentTask.objects.filter(execution=run).update(
            status=AgentTask.Status.FAILED, error=run.error or run.status, finished_at=run.finished_at
        )


# --- Executing one step (in the worker) ------------------------------------------------------
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


@transaction.atomic
def step_claim(*, step_pk, task_id: str, worker: str = "") -> StepRun | None:
    """Claim the step for this delivery; None when the message is stale or a duplicate.

    One transaction (one commit) with the "started" log line: commits are what a step costs.
    """
    step = StepRun.objects.select_related("run").filter(pk=step_pk).first()
    if step is None or step.task_id != task_id or step.status != StepStatus.QUEUED:
        return None
    timeout = int(graph_for(step.run).steps[step.step_id]["timeout_seconds"])
    started = now()
    deadline = started + timedelta(seconds=timeout + DEADLINE_GRACE_SECONDS)
    # Every condition on the step row itself (not in a join), so a claim that waited on a
    # cancel's row lock re-checks the status it finds and loses.
    claimed = step_sql.record_attempt(
        run_pk=step.run_id,
        step_pk=step_pk,
        task_id=task_id,
        expected_status=StepStatus.QUEUED,
        fields={
            "status": StepStatus.RUNNING,
            "attempts": step.attempts + 1,
            "started_at": started,
            "finished_at": None,
            "worker": worker[:200],
            "deadline_at": deadline,
        },
    )
    if not claimed:
        return None
    if step.run.started_at is None:  # the run's first step to start on a worker
        Run.objects.filter(pk=step.run_id, started_at__isnull=True).update(started_at=started)
    step.status, step.attempts, step.started_at, step.finished_at = StepStatus.RUNNING, step.attempts + 1, started, None
    step.worker, step.deadline_at = worker[:200], deadline
    step_log(
        run_id=step.run_id,
        step_id=step.step_id,
        attempt=step.attempts,
        message=f"attempt {step.attempts} started on {worker or 'a worker'}",
    )
    if step.run.kind == Run.Kind.EXECUTION:
        AgentTask.objects.filter(execution_id=step.run_id, status=AgentTask.Status.PENDING).update(
            status=AgentTask.Status.PROCESSING, started_at=started
        )
    return step


def _begin(*, step_pk, task_id: str, worker: str, run_pk=None, step_id=None, attempt=None) -> Attempt | None:
    """Set up one delivery: a durable claim for satellites with side effects, none for pure ones
    (their result is recorded only if the step is still queued under this token)."""
    if run_pk is None or step_id is None or attempt is None:  # a message from before these were sent
        row = StepRun.objects.filter(pk=step_pk).values_list("run_id", "step_id", "attempts").first()
        if row is None:
            return None
        run_pk, step_id, attempt = row[0], row[1], row[2] + 1
    run = run_context(str(run_pk))
    if run is None or step_id not in run.graph.steps:
        return None
    sat = get_satellite(run.graph.steps[step_id]["satellite"])
    if sat is not None and sat.pure:
        return Attempt(str(step_pk), task_id, run, step_id, attempt, worker[:200], claimed=False, started_at=now())
    step = _retrying(lambda: step_claim(step_pk=step_pk, task_id=task_id, worker=worker))
    if step is None:
        return None
    return Attempt(
        str(step_pk), task_id, run, step_id, step.attempts, worker[:200], claimed=True, started_at=step.started_at
    )


def _template_context(run: RunContext, step_id: str, carried: dict | None) -> dict:
    """What templates resolve against; upstream outputs come from the message when carried
    there, else from the database."""
    outputs = {sid: {"outputs": output} for sid, output in (carried or {}).items()}
    missing = run.graph.wants[step_id] - outputs.keys()
    if missing:
        rows = StepRun.objects.filter(run_id=run.pk, step_id__in=missing, status=StepStatus.SUCCEEDED).values_list(
            "step_id", "output"
        )
        outputs.update({sid: {"outputs": output} for sid, output in rows})
    return {
        "inputs": run.inputs,
        "steps": outputs,
        "run": {"id": run.pk, "cluster": run.cluster_id or "", "version": run.version},
    }


def step_execute(
    *, step_pk, task_id: str, worker: str = "", run_pk=None, step_id=None, attempt=None, outputs=None
) -> None:
    """What the Celery task does: claim, resolve inputs, run the satellite, record the outcome."""
    current = _begin(step_pk=step_pk, task_id=task_id, worker=worker, run_pk=run_pk, step_id=step_id, attempt=attempt)
    if current is None:
        logger.info("step delivery ignored (duplicate or stale)", extra={"step": str(step_pk), "task_id": task_id})
        return
    run = current.run
    spec = run.graph.steps[current.step_id]
    sat = get_satellite(spec["satellite"])
    used_secrets: list[str] = []

    def log_sink(level: str, message: str) -> None:
        line = StepLog(
            run_id=run.pk,
            step_id=current.step_id,
            attempt=current.number,
            level=level,
            message=_mask(message, used_secrets),
        )
        if current.claimed:
            _retrying(lambda: _write_logs([line]))  # live: others can follow the step as it runs
        else:
            current.logs.append(line)

    def secret(name: str) -> str:
        if sat is not None and not sat.takes_secrets:  # an execution's inputs are not validated up front
            raise TemplateError(SECRETS_REFUSED.format(satellite=sat.name))
        row = Secret.objects.filter(tenant_id=run.tenant_id, name=name).first()
        if row is None:
            raise TemplateError(f"secret {name!r} is not set")
        value = vault.decrypt(row.ciphertext)
        if len(value) >= 3:
            used_secrets.append(value)
        return value

    ctx = StepContext(
        tenant_id=run.tenant_id,
        run_id=run.pk,
        step_id=current.step_id,
        attempt=current.number,
        deadline=time.monotonic() + int(spec["timeout_seconds"]),
        log_sink=log_sink,
        secret_values=used_secrets,
        cancel_probe=lambda: (
            not StepRun.objects.filter(
                pk=step_pk, task_id=task_id, status=StepStatus.RUNNING if current.claimed else StepStatus.QUEUED
            ).exists()
        ),
    )
    started = time.monotonic()
    try:
        inputs = render(spec["inputs"], _template_context(run, current.step_id, outputs), secret)
        errors = input_errors(sat, inputs) if sat else {"satellite": [f"unknown satellite {spec['satellite']!r}"]}
        if errors:
            raise TemplateError("invalid inputs: " + "; ".join(f"{k}: {', '.join(v)}" for k, v in errors.items()))
        output = sat.func(inputs, ctx)
        json_size(output, Budget(MAX_OUTPUT_BYTES, "the step's output"))  # before dumping it
        encoded = json.dumps(output, default=str)
        if len(encoded) > MAX_OUTPUT_BYTES:
            raise SatelliteError(f"output is larger than {MAX_OUTPUT_BYTES // 1024} KiB")
        outcome = Outcome(StepStatus.SUCCEEDED, output=json.loads(encoded), output_bytes=len(encoded))
    except StepCancelled:
        outcome = Outcome(StepStatus.CANCELLED, error="cancelled", retryable=False)
    except (StepTimedOut, SoftTimeLimitExceeded):
        outcome = Outcome(StepStatus.TIMED_OUT, error=f"exceeded its timeout of {spec['timeout_seconds']}s")
    except (TemplateError, vault.SecretUnreadable, BudgetExceeded) as exc:
        outcome = Outcome(StepStatus.FAILED, error=str(exc), retryable=False)
    except SatelliteError as exc:
        outcome = Outcome(StepStatus.FAILED, error=str(exc) or "failed")
    except Exception as exc:  # a satellite bug must fail the step, not the worker
        logger.exception("satellite raised", extra={"satellite": spec["satellite"]})
        outcome = Outcome(StepStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
    outcome.output = _mask(outcome.output, used_secrets)
    outcome.error = _mask(outcome.error, used_secrets)
    elapsed_ms = int((time.monotonic() - started) * 1000)
    if outcome.status == StepStatus.SUCCEEDED:
        outcome.log_line = f"succeeded in {elapsed_ms} ms; output: {_summary(outcome.output)}"
    elif outcome.status != StepStatus.CANCELLED:
        status = outcome.status.replace("_", " ")
        outcome.log_line = f"attempt {current.number} {status} after {elapsed_ms} ms: {outcome.error}"
    step_complete(current, outcome)


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
    recorded, counted = _retrying(record)
    if not recorded:
        return  # cancelled, reaped, deleted or already recorded meanwhile: the result is discarded
    if retry:
        _retrying(partial(_requeue, current, delay))
        return
    small = outcome.status == StepStatus.SUCCEEDED and outcome.output_bytes <= CARRIED_OUTPUT_BYTES
    carried = {current.step_id: outcome.output} if small else None
    run = Run(id=current.run.pk, status=RunStatus.RUNNING)
    queued_by_sql = [(row[0], row[7], row[1], row[2]) for row in counted if row[5] == StepStatus.QUEUED and not row[6]]
    _send_on_commit(run, graph, queued_by_sql, carried=carried)  # committed already: sends now
    ready, waiting = _ready_from_counts(counted)
    if ready:
        _retrying(partial(_release_ready, run.pk, [step.pk for step in ready], carried))
    elif not queued_by_sql and not waiting:
        _retrying(partial(run_settle, run.pk))


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
    )
    if step_sql.single_statement():
        return complete()  # atomic by itself
    with transaction.atomic():
        return complete()


@transaction.atomic
def _requeue(current: Attempt, delay: float) -> None:
    """Queue the step's next attempt, unless the run was cancelled meanwhile."""
    run = _lock_run(current.run.pk)
    expected = StepStatus.RUNNING if current.claimed else StepStatus.QUEUED
    if run is None or run.status != RunStatus.RUNNING:
        return
    if not StepRun.objects.filter(pk=current.step_pk, task_id=current.task_id, status=expected).exists():
        return
    step = ReadyStep(current.step_pk, current.step_id, current.number, 0, False)
    _queue_many(run, current.run.graph, [step], countdown=delay)


@transaction.atomic
def _release_ready(run_pk, step_pks: list, carried: dict | None) -> None:
    """Release dependents the completion statement left to the engine (skips, on_failure)."""
    run = _lock_run(run_pk)
    if run is None or run.status != RunStatus.RUNNING:
        return
    ready = _ready(StepRun.objects.filter(pk__in=step_pks, status=StepStatus.PENDING, remaining_deps=0))
    _release(run, graph_for(run), ready, carried=carried)


@transaction.atomic
def run_settle(run_pk) -> None:
    """Finish the run if all its steps have ended, under its exclusive lock. Runs in its own
    transaction after a completion committed, so the last completion to commit always sees
    every other step's final state."""
    run = _lock_run(run_pk)
    if run is not None and run.status == RunStatus.RUNNING:
        _maybe_finish(run, graph_for(run))


# --- Operator actions -----------------------------------------------------------------------------
def _revoke(task_ids: list[str]) -> None:
    if not task_ids:
        return
    from config.celery import app

    try:
        app.control.revoke(task_ids)
    except Exception:  # best effort: the claim check stops a revoked-too-late task anyway
        logger.warning("revoke failed", exc_info=True)


@transaction.atomic
def run_cancel(*, run: Run, actor=None) -> Run:
    """Cancel now: running steps stop at their next cooperative check, nothing more is queued."""
    run = _lock_run(run.pk)
    if run is None:
        raise NotFound()
    if run.is_terminal:
        raise Conflict(f"The run already ended ({run.status}).")
    active = list(run.steps.exclude(status__in=TERMINAL_STEP_STATUSES))
    task_ids = [s.task_id for s in active if s.status in (StepStatus.QUEUED, StepStatus.RUNNING) and s.task_id]
    stamp = now()
    run.steps.filter(pk__in=[s.pk for s in active]).update(status=StepStatus.CANCELLED, finished_at=stamp)
    for step in active:
        if step.status == StepStatus.RUNNING:
            step_log(run_id=run.id, step_id=step.step_id, attempt=step.attempts, message="cancel requested")
    was_queued = run.status == RunStatus.QUEUED
    run.status = RunStatus.CANCELLED
    run.finished_at = stamp
    run.save(update_fields=["status", "finished_at"])
    step_log(run_id=run.id, step_id="", attempt=0, message="run cancelled")
    _publish(run)
    if run.kind == Run.Kind.EXECUTION:
        _sync_agent_task(run)
    if run.cluster_id and not was_queued:
        _start_waiting_runs(run.cluster_id)
    audit_record(action="run.cancel", target=run, actor=actor, tenant=run.tenant, changes={"steps": len(active)})
    transaction.on_commit(partial(_revoke, task_ids))
    return run


@transaction.atomic
def run_retry(*, run: Run, actor=None) -> Run:
    """Re-run from the steps that did not succeed, reusing the outputs of those that did."""
    run = _lock_run(run.pk)
    if run is None:
        raise NotFound()
    if run.status not in (RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.CANCELLED):
        raise Conflict(f"Only a failed, timed-out or cancelled run can be retried; this one is {run.status}.")
    graph = graph_for(run)
    steps = {s.step_id: s for s in run.steps.all()}
    reset = {sid for sid, s in steps.items() if s.status != StepStatus.SUCCEEDED or s.is_handler}
    for sid in reset:
        step = steps[sid]
        step.status = StepStatus.PENDING
        step.attempts = 0
        step.output = None
        step.error = ""
        step.task_id = ""
        step.queued_at = step.started_at = step.finished_at = step.deadline_at = None
        step.remaining_deps = sum(1 for dep in graph.steps[sid]["depends_on"] if dep in reset)
        step.failed_deps = step.redeliveries = 0
    StepRun.objects.bulk_update(
        [steps[sid] for sid in reset],
        [
            "status",
            "attempts",
            "output",
            "error",
            "task_id",
            "queued_at",
            "started_at",
            "finished_at",
            "deadline_at",
            "remaining_deps",
            "failed_deps",
            "redeliveries",
        ],
        batch_size=500,
    )
    step_log(run_id=run.id, step_id="", attempt=0, message=f"retry: re-running {len(reset)} step(s)")
    run.finished_at = None
    run.error = ""
    run.save(update_fields=["finished_at", "error"])
    audit_record(action="run.retry", target=run, actor=actor, tenant=run.tenant, changes={"steps": len(reset)})
    if run.kind == Run.Kind.EXECUTION:
        AgentTask.objects.filter(execution=run).update(status=AgentTask.Status.PENDING, error="", finished_at=None)
    if run.cluster_id:  # serialises concurrency decisions, as a trigger does (lock order: run, cluster)
        Cluster.objects.select_for_update().filter(pk=run.cluster_id).first()
    _admit(run, graph)
    return run


def _isolated(func, what: str, pk) -> int:
    """One item of a reaper pass: a failure is logged and the pass goes on with the others."""
    try:
        return _retrying(func) or 0
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
    from django.conf import settings

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
    from django.conf import settings

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
    _send_on_commit(Run(id=run_pk), context.graph, [(step_pk, token, step_id, attempts)])
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
    run = _lock_run(run_pk)
    if run is None or run.status != RunStatus.RUNNING:
        return
    graph = graph_for(run)
    ready = _ready(run.steps.filter(status=StepStatus.PENDING, remaining_deps=0, is_handler=False))
    if ready:
        _release(run, graph, ready)
    else:
        _maybe_finish(run, graph)


@transaction.atomic
def _reap_one(step_pk, run_pk, at) -> int:
    run = _lock_run(run_pk)
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
        if _propagate(run, graph, [(step.step_id, step.status)]):
            _maybe_finish(run, graph)
    return 1

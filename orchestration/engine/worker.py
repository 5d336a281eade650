"""The worker's side of a step: claim the delivery, resolve its inputs, run the satellite and
hand the outcome to `completion.step_complete`.

A queued step carries a fresh Celery task id, its *claim token*. A satellite with side effects
runs only after a conditional UPDATE `status=queued AND task_id=<token> → running` changed
exactly one row, so a redelivered message (acks_late after a worker died) never repeats its
side effects; a pure satellite skips that commit and is recorded only if still current.
Timeouts: Celery's time limits, the satellites' cooperative checks, and the reaper for steps
whose worker vanished.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.db import transaction

from orchestration import step_sql, vault
from orchestration.budget import Budget, BudgetExceeded, json_size
from orchestration.clock import now
from orchestration.definitions import SECRETS_REFUSED
from orchestration.engine.completion import Attempt, Outcome, step_complete
from orchestration.engine.graph import RunContext, graph_for, run_context
from orchestration.engine.logs import mask, step_log, summary, write_logs
from orchestration.engine.transactions import retrying
from orchestration.models import AgentTask, Run, Secret, StepLog, StepRun, StepStatus
from orchestration.satellites import (
    SatelliteError,
    StepCancelled,
    StepContext,
    StepTimedOut,
    get_satellite,
    input_errors,
)
from orchestration.templating import TemplateError, render

logger = logging.getLogger("groundstation.orchestration")

DEADLINE_GRACE_SECONDS = 30  # after timeout_seconds, before the reaper calls a worker lost
MAX_OUTPUT_BYTES = 512 * 1024


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
    step = retrying(lambda: step_claim(step_pk=step_pk, task_id=task_id, worker=worker))
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
    spec = current.run.graph.steps[current.step_id]
    sat = get_satellite(spec["satellite"])
    used_secrets: list[str] = []  # values to mask in every log line, output and error
    ctx, secret = _step_context(current, sat, int(spec["timeout_seconds"]), used_secrets)
    started = time.monotonic()
    outcome = _run_satellite(current, spec, sat, ctx, secret, outputs)
    outcome.output = mask(outcome.output, used_secrets)
    outcome.error = mask(outcome.error, used_secrets)
    elapsed_ms = int((time.monotonic() - started) * 1000)
    if outcome.status == StepStatus.SUCCEEDED:
        outcome.log_line = f"succeeded in {elapsed_ms} ms; output: {summary(outcome.output)}"
    elif outcome.status != StepStatus.CANCELLED:
        status = outcome.status.replace("_", " ")
        outcome.log_line = f"attempt {current.number} {status} after {elapsed_ms} ms: {outcome.error}"
    step_complete(current, outcome)


def _step_context(current: Attempt, sat, timeout: int, used_secrets: list[str]) -> tuple[StepContext, Callable]:
    """What a satellite sees of its step (log sink, deadline, cancel probe), and the secret
    lookup its input templates resolve through."""
    run = current.run

    def log_sink(level: str, message: str) -> None:
        line = StepLog(
            run_id=run.pk,
            step_id=current.step_id,
            attempt=current.number,
            level=level,
            message=mask(message, used_secrets),
        )
        if current.claimed:
            retrying(lambda: write_logs([line]))  # live: others can follow the step as it runs
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

    expected = StepStatus.RUNNING if current.claimed else StepStatus.QUEUED
    context = StepContext(
        tenant_id=run.tenant_id,
        run_id=run.pk,
        step_id=current.step_id,
        attempt=current.number,
        deadline=time.monotonic() + timeout,
        log_sink=log_sink,
        secret_values=used_secrets,
        cancel_probe=lambda: (
            not StepRun.objects.filter(pk=current.step_pk, task_id=current.task_id, status=expected).exists()
        ),
    )
    return context, secret


def _run_satellite(
    current: Attempt, spec: dict, sat, ctx: StepContext, secret: Callable, carried: dict | None
) -> Outcome:
    """Render the inputs, run the satellite, and turn what happened into an outcome."""
    try:
        inputs = render(spec["inputs"], _template_context(current.run, current.step_id, carried), secret)
        errors = input_errors(sat, inputs) if sat else {"satellite": [f"unknown satellite {spec['satellite']!r}"]}
        if errors:
            raise TemplateError("invalid inputs: " + "; ".join(f"{k}: {', '.join(v)}" for k, v in errors.items()))
        output = sat.func(inputs, ctx)
        json_size(output, Budget(MAX_OUTPUT_BYTES, "the step's output"))  # before dumping it
        encoded = json.dumps(output, default=str)
        if len(encoded) > MAX_OUTPUT_BYTES:
            raise SatelliteError(f"output is larger than {MAX_OUTPUT_BYTES // 1024} KiB")
        return Outcome(StepStatus.SUCCEEDED, output=json.loads(encoded), output_bytes=len(encoded))
    except StepCancelled:
        return Outcome(StepStatus.CANCELLED, error="cancelled", retryable=False)
    except (StepTimedOut, SoftTimeLimitExceeded):
        return Outcome(StepStatus.TIMED_OUT, error=f"exceeded its timeout of {spec['timeout_seconds']}s")
    except (TemplateError, vault.SecretUnreadable, BudgetExceeded) as exc:
        return Outcome(StepStatus.FAILED, error=str(exc), retryable=False)
    except SatelliteError as exc:
        return Outcome(StepStatus.FAILED, error=str(exc) or "failed", retryable=exc.retryable)
    except Exception as exc:  # a satellite bug must fail the step, not the worker
        logger.exception("satellite raised", extra={"satellite": spec["satellite"]})
        return Outcome(StepStatus.FAILED, error=f"{type(exc).__name__}: {exc}")

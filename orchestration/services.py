"""Writes of the orchestration app, the one write surface views, the admin and tasks call:
clusters and their versions and schedules, runs and executions (trigger, cancel, retry),
secrets, agents, agent tasks and idempotency records. Runs are advanced by the engine
(`orchestration.engine`); these operator actions use it under the run's row lock.
"""

from __future__ import annotations

import json
from functools import partial

from django.db import IntegrityError, transaction
from django.shortcuts import get_object_or_404
from django_celery_beat.models import CrontabSchedule, PeriodicTask
from rest_framework.exceptions import NotFound, ValidationError

from core.api.exceptions import Conflict, PayloadTooLarge
from core.audit import audit_record
from core.db import save_existing
from orchestration import clock, vault
from orchestration.definition_yaml import DefinitionInvalid, DefinitionTooLarge
from orchestration.definitions import check_run_inputs, cron_fields, parse_definition
from orchestration.engine import dispatch, events, graph, logs, transactions
from orchestration.models import (
    TERMINAL_STEP_STATUSES,
    Agent,
    AgentTask,
    Cluster,
    ClusterVersion,
    IdempotencyRecord,
    Run,
    RunStatus,
    Secret,
    StepRun,
    StepStatus,
)
from orchestration.satellites import get_satellite, input_errors
from tenants.models import Tenant

SCHEDULE_TASK = "orchestration.trigger_scheduled"


class DefinitionErrors(ValidationError):
    """400 whose details list every problem with its line and column (ints, not strings)."""

    def __init__(self, problems):
        super().__init__({"definition": ["invalid"]})
        self.detail = {"definition": [p.as_dict() for p in problems]}


def definition_spec(text: str) -> dict:
    """Parse and validate a definition, translating problems into API errors."""
    try:
        return parse_definition(text)
    except DefinitionTooLarge as exc:
        raise PayloadTooLarge(str(exc))
    except DefinitionInvalid as exc:
        raise DefinitionErrors(exc.problems)


def _user(actor):
    return actor if getattr(actor, "pk", None) else None


def _sync_schedule(cluster: Cluster) -> None:
    """Keep the cluster's django-celery-beat entry in line with its `schedule`."""
    task = cluster.periodic_task
    if not cluster.schedule:
        if task is not None:
            cluster.periodic_task = None
            cluster.save(update_fields=["periodic_task"])
            task.delete()
        return
    minute, hour, day, month, weekday = cron_fields(cluster.schedule)
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute=minute, hour=hour, day_of_month=day, month_of_year=month, day_of_week=weekday, timezone="UTC"
    )
    if task is None:
        task = PeriodicTask(name=f"cluster {cluster.id}", task=SCHEDULE_TASK)
    task.crontab = crontab
    task.interval = None
    task.kwargs = json.dumps({"cluster_id": str(cluster.id)})
    task.description = f"Runs cluster {cluster.name} (tenant {cluster.tenant.slug}) on '{cluster.schedule}'."
    task.save()
    if cluster.periodic_task_id != task.pk:
        cluster.periodic_task = task
        cluster.save(update_fields=["periodic_task"])


@transaction.atomic
def cluster_create(*, tenant: Tenant, definition: str, actor=None) -> Cluster:
    spec = definition_spec(definition)
    if Cluster.objects.filter(tenant=tenant, name=spec["name"]).exists():
        raise Conflict(f"A cluster named {spec['name']!r} already exists.")
    try:
        with transaction.atomic():
            cluster = Cluster.objects.create(
                tenant=tenant,
                name=spec["name"],
                description=spec["description"],
                definition=definition,
                spec=spec,
                schedule=spec["schedule"],
                created_by=_user(actor),
            )
    except IntegrityError:
        raise Conflict(f"A cluster named {spec['name']!r} already exists.")
    ClusterVersion.objects.create(cluster=cluster, version=1, definition=definition, spec=spec, created_by=_user(actor))
    _sync_schedule(cluster)
    audit_record(action="cluster.create", target=cluster, actor=actor, tenant=tenant, changes={"name": cluster.name})
    return cluster


@transaction.atomic
def cluster_update(*, cluster: Cluster, definition: str, actor=None) -> Cluster:
    """Every update is a new version; runs keep the version they started with."""
    spec = definition_spec(definition)
    cluster = get_object_or_404(Cluster.objects.select_for_update(), pk=cluster.pk)
    before = _cluster_summary(cluster)
    if spec["name"] != cluster.name and Cluster.objects.filter(tenant_id=cluster.tenant_id, name=spec["name"]).exists():
        raise Conflict(f"A cluster named {spec['name']!r} already exists.")
    cluster.version += 1
    cluster.name = spec["name"]
    cluster.description = spec["description"]
    cluster.definition = definition
    cluster.spec = spec
    cluster.schedule = spec["schedule"]
    cluster.save()
    ClusterVersion.objects.create(
        cluster=cluster, version=cluster.version, definition=definition, spec=spec, created_by=_user(actor)
    )
    _sync_schedule(cluster)
    after = _cluster_summary(cluster)
    audit_record(
        action="cluster.update",
        target=cluster,
        actor=actor,
        tenant=cluster.tenant,
        changes={key: [value, after[key]] for key, value in before.items() if value != after[key]},
    )
    return cluster


def _cluster_summary(cluster: Cluster) -> dict:
    """What an auditor compares between versions (the YAML itself stays in ClusterVersion)."""
    return {
        "version": cluster.version,
        "name": cluster.name,
        "schedule": cluster.schedule,
        "steps": [step["id"] for step in (cluster.spec or {}).get("steps", [])],
    }


@transaction.atomic
def cluster_delete(*, cluster: Cluster, actor=None) -> None:
    """Cancels active runs, removes the schedule, then deletes the cluster and its history.

    The row lock first: an update committing meanwhile adds a version the delete must see
    (without it the delete failed on that version's foreign key and the cluster stayed)."""
    cluster = get_object_or_404(Cluster.objects.select_for_update(), pk=cluster.pk)
    for run in Run.objects.filter(cluster=cluster).active():
        run_cancel(run=run, actor=actor)
    if cluster.periodic_task_id:
        PeriodicTask.objects.filter(pk=cluster.periodic_task_id).delete()
    audit_record(
        action="cluster.delete", target=cluster, actor=actor, tenant=cluster.tenant, changes={"name": cluster.name}
    )
    cluster.delete()


def cluster_trigger_scheduled(*, cluster_id) -> Run | None:
    """Called by beat; a deleted cluster (or one over a `reject` limit) is skipped quietly.

    Two beat processes (a failover pair both up) each send the tick's task. Cron fires at most
    once a minute, so the tick is the minute: the first to record (cluster, minute) starts the
    run, the other's insert hits the unique constraint and it starts nothing.
    """
    cluster = Cluster.objects.filter(pk=cluster_id).first()
    if cluster is None:
        return None
    tick = clock.now().replace(second=0, microsecond=0)
    try:
        with transaction.atomic():
            IdempotencyRecord.objects.create(
                tenant_id=cluster.tenant_id,
                key=f"schedule:{tick.isoformat()}",
                endpoint=f"schedule:{cluster.pk}",
                fingerprint="",
                status_code=202,
                body={},
            )
            return run_trigger(cluster=cluster, inputs={}, trigger=Run.Trigger.SCHEDULE)
    except IntegrityError:
        return None  # another beat already started this tick's run
    except (Conflict, ValidationError):
        return None


# --- Runs and executions ------------------------------------------------------------------------
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
    run_graph = graph.version_graph(str(version.pk))
    dispatch.materialize(run, run_graph)
    dispatch.admit(run, run_graph)
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
    run_graph = graph.graph_for(run)
    dispatch.materialize(run, run_graph)
    dispatch.start(run, run_graph)
    return run


@transaction.atomic
def run_cancel(*, run: Run, actor=None) -> Run:
    """Cancel now: running steps stop at their next cooperative check, nothing more is queued."""
    run = transactions.lock_run(run.pk)
    if run is None:
        raise NotFound()
    if run.is_terminal:
        raise Conflict(f"The run already ended ({run.status}).")
    active = list(run.steps.exclude(status__in=TERMINAL_STEP_STATUSES))
    task_ids = [s.task_id for s in active if s.status in (StepStatus.QUEUED, StepStatus.RUNNING) and s.task_id]
    stamp = clock.now()
    run.steps.filter(pk__in=[s.pk for s in active]).update(status=StepStatus.CANCELLED, finished_at=stamp)
    for step in active:
        if step.status == StepStatus.RUNNING:
            logs.step_log(run_id=run.id, step_id=step.step_id, attempt=step.attempts, message="cancel requested")
    was_queued = run.status == RunStatus.QUEUED
    run.status = RunStatus.CANCELLED
    run.finished_at = stamp
    run.save(update_fields=["status", "finished_at"])
    logs.step_log(run_id=run.id, step_id="", attempt=0, message="run cancelled")
    events.publish_run_status(run)
    if run.kind == Run.Kind.EXECUTION:
        dispatch.sync_agent_task(run)
    if run.cluster_id and not was_queued:
        dispatch.start_waiting_runs(run.cluster_id)
    audit_record(action="run.cancel", target=run, actor=actor, tenant=run.tenant, changes={"steps": len(active)})
    transaction.on_commit(partial(dispatch.revoke, task_ids))
    return run


@transaction.atomic
def run_retry(*, run: Run, actor=None) -> Run:
    """Re-run from the steps that did not succeed, reusing the outputs of those that did."""
    run = transactions.lock_run(run.pk)
    if run is None:
        raise NotFound()
    if run.status not in (RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.CANCELLED):
        raise Conflict(f"Only a failed, timed-out or cancelled run can be retried; this one is {run.status}.")
    run_graph = graph.graph_for(run)
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
        step.remaining_deps = sum(1 for dep in run_graph.steps[sid]["depends_on"] if dep in reset)
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
    logs.step_log(run_id=run.id, step_id="", attempt=0, message=f"retry: re-running {len(reset)} step(s)")
    run.finished_at = None
    run.error = ""
    run.save(update_fields=["finished_at", "error"])
    audit_record(action="run.retry", target=run, actor=actor, tenant=run.tenant, changes={"steps": len(reset)})
    if run.kind == Run.Kind.EXECUTION:
        AgentTask.objects.filter(execution=run).update(status=AgentTask.Status.PENDING, error="", finished_at=None)
    if run.cluster_id:  # serialises concurrency decisions, as a trigger does (lock order: run, cluster)
        Cluster.objects.select_for_update().filter(pk=run.cluster_id).first()
    dispatch.admit(run, run_graph)
    return run


# --- Secrets --------------------------------------------------------------------------------------
@transaction.atomic
def secret_set(*, tenant: Tenant, name: str, value: str, actor=None) -> Secret:
    """Create or replace a secret; only its ciphertext is stored."""
    secret = Secret.objects.select_for_update().filter(tenant=tenant, name=name).first()
    created = secret is None
    if created:
        secret = Secret(tenant=tenant, name=name, created_by=_user(actor))
    secret.ciphertext = vault.encrypt(value)
    secret.save()
    audit_record(
        action="secret.create" if created else "secret.update",
        target=secret,
        actor=actor,
        tenant=tenant,
        changes={"name": name},
    )
    return secret


@transaction.atomic
def secret_delete(*, secret: Secret, actor=None) -> None:
    audit_record(
        action="secret.delete", target=secret, actor=actor, tenant=secret.tenant, changes={"name": secret.name}
    )
    secret.delete()


# --- Agents and tasks -----------------------------------------------------------------------------
@transaction.atomic
def agent_create(*, tenant: Tenant, actor=None, **fields) -> Agent:
    if Agent.objects.filter(tenant=tenant, name=fields["name"]).exists():
        raise Conflict(f"An agent named {fields['name']!r} already exists.")
    return Agent.objects.create(tenant=tenant, created_by=_user(actor), **fields)


@transaction.atomic
def agent_update(*, agent: Agent, actor=None, **fields) -> Agent:
    name = fields.get("name")
    if name and name != agent.name and Agent.objects.filter(tenant_id=agent.tenant_id, name=name).exists():
        raise Conflict(f"An agent named {name!r} already exists.")
    for key, value in fields.items():
        setattr(agent, key, value)
    save_existing(agent)
    return agent


@transaction.atomic
def agent_delete(*, agent: Agent, actor=None) -> None:
    agent.delete()


@transaction.atomic
def agent_task_create(
    *, tenant: Tenant, agent: Agent, title: str, description: str = "", input=None, actor=None
) -> AgentTask:
    """A task runs the `agent.run` satellite as an execution: pending → processing → completed|failed."""
    if not agent.is_active:
        raise ValidationError({"agent_id": ["This agent is not active."]})
    task = AgentTask.objects.create(
        tenant=tenant,
        agent=agent,
        title=title,
        description=description,
        input=input if input is not None else {},
        created_by=_user(actor),
    )
    execution = execution_create(
        tenant=tenant,
        satellite="agent.run",
        inputs={"agent": str(agent.id), "input": task.input, "title": title, "description": description},
        actor=actor,
    )
    task.execution = execution
    task.save(update_fields=["execution"])
    return task


# --- Idempotency ------------------------------------------------------------------------------------
def idempotency_record_save(
    *, tenant: Tenant, key: str, endpoint: str, fingerprint: str, status_code: int, body
) -> None:
    """Insert the first response; raises IntegrityError if a concurrent request won the race."""
    IdempotencyRecord.objects.filter(
        tenant=tenant, key=key, endpoint=endpoint, created_at__lt=clock.now() - clock.IDEMPOTENCY_TTL
    ).delete()
    IdempotencyRecord.objects.create(
        tenant=tenant, key=key, endpoint=endpoint, fingerprint=fingerprint, status_code=status_code, body=body
    )

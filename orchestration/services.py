"""Writes of the orchestration app: clusters and their versions and schedules, secrets,
agents, agent tasks and idempotency records. The run engine (trigger, cancel, retry, step
execution) lives in `orchestration.engine`; both are called alike by views, admin and tasks.
"""

from __future__ import annotations

import json

from django.db import IntegrityError, transaction
from django.shortcuts import get_object_or_404
from django_celery_beat.models import CrontabSchedule, PeriodicTask
from rest_framework.exceptions import ValidationError

from core.api.exceptions import Conflict, PayloadTooLarge
from core.audit import audit_record
from core.db import save_existing
from orchestration import engine, vault
from orchestration.definitions import DefinitionInvalid, DefinitionTooLarge, cron_fields, parse_definition
from orchestration.models import Agent, AgentTask, Cluster, ClusterVersion, IdempotencyRecord, Run, Secret
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
        engine.run_cancel(run=run, actor=actor)
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
    tick = engine.now().replace(second=0, microsecond=0)
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
            return engine.run_trigger(cluster=cluster, inputs={}, trigger=Run.Trigger.SCHEDULE)
    except IntegrityError:
        return None  # another beat already started this tick's run
    except (Conflict, ValidationError):
        return None


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
    execution = engine.execution_create(
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
        tenant=tenant, key=key, endpoint=endpoint, created_at__lt=engine.now() - engine.IDEMPOTENCY_TTL
    ).delete()
    IdempotencyRecord.objects.create(
        tenant=tenant, key=key, endpoint=endpoint, fingerprint=fingerprint, status_code=status_code, body=body
    )

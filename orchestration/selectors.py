"""Reads of the orchestration app: tenant-scoped querysets and lookups."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from orchestration.engine import IDEMPOTENCY_TTL, now
from orchestration.models import Agent, AgentTask, Cluster, Execution, IdempotencyRecord, Run, Secret, StepLog


def cluster_list(*, tenant) -> QuerySet:
    return Cluster.objects.for_tenant(tenant)


def run_list(*, tenant) -> QuerySet:
    return Run.objects.for_tenant(tenant).filter(kind=Run.Kind.CLUSTER).prefetch_related("steps")


def execution_list(*, tenant) -> QuerySet:
    return Execution.objects.for_tenant(tenant).prefetch_related("steps")


def secret_list(*, tenant) -> QuerySet:
    return Secret.objects.for_tenant(tenant)


def agent_list(*, tenant) -> QuerySet:
    return Agent.objects.for_tenant(tenant)


def agent_task_list(*, tenant) -> QuerySet:
    return AgentTask.objects.for_tenant(tenant).select_related("agent")


def run_logs(*, run: Run, after_id: int = 0, step_id: str | None = None) -> QuerySet:
    logs = StepLog.objects.filter(run=run, id__gt=after_id)
    if step_id:
        logs = logs.filter(step_id=step_id)
    return logs.order_by("id")


def agent_lookup(*, tenant_id, ref: str) -> Agent | None:
    """An agent of the tenant by id or by name."""
    agents = Agent.objects.filter(tenant_id=tenant_id)
    try:
        return agents.filter(pk=uuid.UUID(str(ref))).first()
    except ValueError:
        return agents.filter(name=ref).first()


def idempotency_record_get(*, tenant, key: str, endpoint: str) -> IdempotencyRecord | None:
    return IdempotencyRecord.objects.filter(
        tenant=tenant, key=key, endpoint=endpoint, created_at__gte=now() - IDEMPOTENCY_TTL
    ).first()

"""Reads of the orchestration app: tenant-scoped querysets and lookups."""

from __future__ import annotations

import uuid

from django.db.models import Max, Min, QuerySet

from orchestration.clock import IDEMPOTENCY_TTL, now
from orchestration.models import Agent, Execution, IdempotencyRecord, Run, StepLog


def run_list(*, tenant) -> QuerySet:
    return Run.objects.for_tenant(tenant).filter(kind=Run.Kind.CLUSTER).prefetch_related("steps")


def execution_list(*, tenant) -> QuerySet:
    return Execution.objects.for_tenant(tenant).prefetch_related("steps")


def step_log_list(*, run: Run, after_id: int = 0, step_id: str | None = None) -> QuerySet:
    logs = StepLog.objects.filter(run=run, id__gt=after_id)
    if step_id:
        logs = logs.filter(step_id=step_id)
    return logs.order_by("id")


def step_attempt_spans(*, run: Run) -> dict[tuple[str, int], tuple]:
    """(step id, attempt) → (first, last) log line time of each attempt of the run's steps, in
    one grouped query: an attempt's first line is "attempt N started", its last the outcome."""
    rows = (
        StepLog.objects.filter(run=run, attempt__gte=1).exclude(step_id="")
        .order_by().values_list("step_id", "attempt").annotate(first=Min("created_at"), last=Max("created_at"))
    )
    return {(step_id, attempt): (first, last) for step_id, attempt, first, last in rows}


def agent_get(*, tenant, id) -> Agent | None:
    return Agent.objects.for_tenant(tenant).filter(pk=id).first()


def agent_get_by_ref(*, tenant, ref: str) -> Agent | None:
    """An agent of the tenant (or tenant id) by id or by name, as a workflow step names it."""
    agents = Agent.objects.for_tenant(tenant)
    try:
        return agents.filter(pk=uuid.UUID(str(ref))).first()
    except ValueError:
        return agents.filter(name=ref).first()


def idempotency_record_get(*, tenant, key: str, endpoint: str) -> IdempotencyRecord | None:
    return IdempotencyRecord.objects.filter(
        tenant=tenant, key=key, endpoint=endpoint, created_at__gte=now() - IDEMPOTENCY_TTL
    ).first()

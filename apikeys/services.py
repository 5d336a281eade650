"""Writes of the apikeys app: keys, plans and the usage meter. Keyword-only, typed, atomic."""
from __future__ import annotations

import bisect
import logging
import uuid
from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apikeys.gateway import invalidation, metering
from apikeys.models import LATENCY_BUCKETS_MS, ApiCall, ApiKey, UsageRollup
from core.api.exceptions import Conflict
from core.audit import audit_record
from tenants.models import Tenant

logger = logging.getLogger("groundstation.usage")

# --- API keys ---------------------------------------------------------------------------------


@transaction.atomic
def api_key_create(
    *,
    tenant: Tenant,
    name: str,
    scopes: list[str],
    expires_at: datetime | None = None,
    rate_limit: str = "",
    created_by=None,
    actor=None,
) -> tuple[ApiKey, str]:
    """Create a key; returns it with the full secret, which is never available again."""
    key = ApiKey(
        tenant=tenant,
        name=name,
        scopes=sorted(set(scopes)),
        expires_at=expires_at,
        rate_limit=rate_limit,
        created_by=created_by,
    )
    secret = key.set_new_secret()
    key.save()
    audit_record(
        action="api_key.create", target=key, actor=actor, tenant=tenant,
        changes={"name": name, "scopes": key.scopes, "rate_limit": rate_limit},
    )
    return key, secret


@transaction.atomic
def api_key_update(*, key: ApiKey, actor=None, **fields) -> ApiKey:
    """Change name, scopes, expiry or rate; cached snapshots are dropped (signal on save).

    A revoked key is final (409): editing it would suggest it could serve again. The row is
    locked so a revoke that commits meanwhile is seen."""
    allowed = {"name", "scopes", "expires_at", "rate_limit"}
    if unknown := set(fields) - allowed:
        raise TypeError(f"api_key_update() got unexpected fields {sorted(unknown)}")
    key = get_object_or_404(ApiKey.objects.select_for_update().select_related("tenant"), pk=key.pk)
    if key.revoked_at is not None:
        raise Conflict("A revoked key cannot be changed.")
    changes = {}
    for field, value in fields.items():
        if field == "scopes":
            value = sorted(set(value))
        if getattr(key, field) != value:
            changes[field] = str(value) if field == "expires_at" else value
            setattr(key, field, value)
    if changes:
        key.save(update_fields=[*changes])
        audit_record(action="api_key.update", target=key, actor=actor, tenant=key.tenant, changes=changes)
    return key


@transaction.atomic
def api_key_revoke(*, key: ApiKey, actor=None) -> ApiKey:
    """Revoke at once: the row is marked and every process's cached snapshot is dropped."""
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        audit_record(
            action="api_key.revoke", target=key, actor=actor, tenant=key.tenant,
            changes={"revoked_at": [None, key.revoked_at.isoformat()]},
        )
    return key


@transaction.atomic
def api_key_rotate(*, key: ApiKey, actor=None) -> tuple[ApiKey, str]:
    """Issue a new secret (and public id); the old credential stops working at once."""
    key = ApiKey.objects.select_for_update().get(pk=key.pk)
    if key.revoked_at is not None:
        raise Conflict("A revoked key cannot be rotated.")
    old_public_id = key.public_id
    secret = key.set_new_secret()
    key.rotated_at = timezone.now()
    key.save(update_fields=["public_id", "digest", "rotated_at"])
    invalidation.forget_keys(old_public_id)
    audit_record(
        action="api_key.rotate", target=key, actor=actor, tenant=key.tenant,
        changes={"key_prefix": [f"{ApiKey.PREFIX}_{old_public_id}", key.display_prefix]},
    )
    return key, secret


# --- Usage meter ------------------------------------------------------------------------------


def _call_row(call: dict) -> ApiCall:
    return ApiCall(
        id=uuid.UUID(call["id"]),
        request_id=(call.get("request_id") or "")[:128],
        tenant_id=call.get("tenant_id"),
        api_key_id=call.get("api_key_id"),
        user_id=call.get("user_id"),
        route=(call.get("route") or "")[:255],
        method=(call.get("method") or "")[:10],
        status=int(call["status"]),
        duration_ms=float(call["duration_ms"]),
        created_at=parse_datetime(call["at"]),
    )


@transaction.atomic
def usage_calls_store(*, rows: list[dict]) -> int:
    """Insert buffered call records; replays of the same record are ignored (unique id).

    Also keeps `ApiKey.last_used_at`: one conditional UPDATE per key and batch, which writes
    only when the stored value is more than a minute old.
    """
    calls = [_call_row(row) for row in rows]
    ApiCall.objects.bulk_create(calls, ignore_conflicts=True, batch_size=1000)
    last_use: dict = {}
    for row in calls:
        if row.api_key_id and row.status != 401:
            last_use[row.api_key_id] = max(last_use.get(row.api_key_id, row.created_at), row.created_at)
    for key_id, used_at in last_use.items():
        ApiKey.objects.filter(pk=key_id).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=used_at - timedelta(seconds=60))
        ).update(last_used_at=used_at)
    return len(rows)


def usage_flush(*, stale_after_seconds: int = 120) -> int:
    """Move buffered call records into the database (`core.shipping`), then roll them up. Idempotent."""
    stored = metering.meter.flush(stale_after_seconds=stale_after_seconds)
    usage_rollup()
    return stored


def _bucket(duration_ms: float) -> int:
    return bisect.bisect_left(LATENCY_BUCKETS_MS, duration_ms)


def usage_rollup(*, batch_size: int = 5000) -> int:
    """Count not-yet-counted calls into the daily rollups, each call exactly once.

    The claimed rows are marked in the same transaction that adds them to the rollups, and
    rows locked by a concurrent rollup are skipped, so no call is counted twice or lost.
    """
    total = 0
    while True:
        with transaction.atomic():
            ids = list(
                ApiCall.objects.select_for_update(skip_locked=True)
                .filter(rolled_up=False)
                .order_by("created_at")
                .values_list("id", flat=True)[:batch_size]
            )
            if not ids:
                return total
            groups: dict[tuple, list] = defaultdict(lambda: [0, 0, 0.0, [0] * (len(LATENCY_BUCKETS_MS) + 1)])
            calls = ApiCall.objects.filter(id__in=ids, tenant_id__isnull=False).values_list(
                "tenant_id", "created_at", "route", "api_key_id", "status", "duration_ms"
            )
            for tenant_id, created_at, route, key_id, status, duration in calls:
                group = groups[(tenant_id, created_at.date(), route, str(key_id) if key_id else "")]
                group[0] += 1
                group[1] += status >= 400
                group[2] += duration
                group[3][_bucket(duration)] += 1
            _add_to_rollups(groups)
            ApiCall.objects.filter(id__in=ids).update(rolled_up=True)
            total += len(ids)


def _add_to_rollups(groups: dict) -> None:
    fields = ("tenant_id", "day", "route", "api_key_id")
    # Calls of a tenant deleted since are dropped: its rollups went with it (cascade).
    live = {str(pk) for pk in Tenant.objects.filter(pk__in={key[0] for key in groups}).values_list("pk", flat=True)}
    groups = {key: value for key, value in groups.items() if str(key[0]) in live}
    UsageRollup.objects.bulk_create(
        [UsageRollup(**dict(zip(fields, group_key, strict=True))) for group_key in groups],
        ignore_conflicts=True,
    )
    for group_key in sorted(groups, key=str):  # a stable order: concurrent rollups never deadlock
        requests, errors, total_ms, histogram = groups[group_key]
        rollup = UsageRollup.objects.select_for_update().get(**dict(zip(fields, group_key, strict=True)))
        rollup.requests += requests
        rollup.errors += errors
        rollup.total_ms += total_ms
        stored = rollup.histogram or [0] * len(histogram)
        rollup.histogram = [a + b for a, b in zip(stored, histogram, strict=True)]
        rollup.save(update_fields=["requests", "errors", "total_ms", "histogram"])


def usage_prune(*, retention_days: int | None = None) -> int:
    """Delete raw calls older than the retention (only ones already rolled up); rollups stay."""
    days = settings.USAGE_RAW_RETENTION_DAYS if retention_days is None else retention_days
    cutoff = timezone.now() - timedelta(days=days)
    deleted, _ = ApiCall.objects.filter(created_at__lt=cutoff, rolled_up=True).delete()
    return deleted

"""Snapshots: what the gateway needs to know about a credential, cached as JSON.

A snapshot carries the digest (never the secret), validity, scopes and the *limit sets* that
apply: a list of `[bucket, limit, period]`. Keys have one set (their tenant's plan plus the
key's own rate); people have one set per tenant slug (plan plus their role's rate) and a `""`
set used when no `X-Tenant` is sent. The Lua script and `select_limits` read the same shape.
"""
from __future__ import annotations

import json

from django.conf import settings
from django.utils import timezone

from apikeys.rates import parse_rate
from tenants.models import DEFAULT_PLAN_RATES, Membership, Tenant

KEY_PREFIX = "gs:gw:k:"
PAT_PREFIX = "gs:gw:p:"
USER_PREFIX = "gs:gw:u:"


def key_cache_key(public_id: str) -> str:
    return KEY_PREFIX + public_id


def pat_cache_key(public_id: str) -> str:
    return PAT_PREFIX + public_id


def user_cache_key(user_id) -> str:
    return USER_PREFIX + str(user_id)


def _epoch(value) -> float | None:
    return value.timestamp() if value else None


def _limits(bucket: str, rates) -> list[list]:
    parsed = [parse_rate(text) for text in rates if text]
    return [[bucket, rate.limit, rate.period] for rate in parsed]


def tenant_limits(tenant: Tenant) -> list[list]:
    rates = tenant.plan.rates if tenant.plan_id else DEFAULT_PLAN_RATES
    return _limits(f"t:{tenant.pk}", rates)


def role_rates(role: str) -> list[str]:
    table = settings.API_USER_RATE_LIMITS
    return table.get(role) or table["none"]


def build_key_snapshot(public_id: str) -> dict | None:
    from apikeys.models import ApiKey

    key = ApiKey.objects.select_related("tenant__plan").filter(public_id=public_id).first()
    if key is None:
        return None
    limits = tenant_limits(key.tenant) + _limits(f"k:{key.pk}", [key.rate_limit])
    return {
        "kind": "key",
        "key_id": str(key.pk),
        "public_id": key.public_id,
        "name": key.name,
        "tenant_id": str(key.tenant_id),
        "tenant_slug": key.tenant.slug,
        "digest": key.digest,
        "scopes": list(key.scopes),
        "rate_limit": key.rate_limit,
        "expires": _epoch(key.expires_at),
        "revoked": key.revoked_at is not None,
        "set": {"tenant": str(key.tenant_id), "limits": limits},
    }


def _user_sets(user_id) -> dict:
    memberships = list(
        Membership.objects.select_related("tenant__plan")
        .filter(user_id=user_id)
        .exclude(tenant__status=Tenant.Status.DELETED)
    )
    sets = {}
    for membership in memberships:
        tenant = membership.tenant
        sets[tenant.slug] = {
            "tenant": str(tenant.pk),
            "limits": tenant_limits(tenant) + _limits(f"u:{user_id}:{tenant.pk}", role_rates(membership.role)),
        }
    if len(memberships) == 1:
        sets[""] = sets[memberships[0].tenant.slug]
    else:
        sets[""] = {"tenant": None, "limits": _limits(f"u:{user_id}", role_rates("none"))}
    return sets


def build_user_snapshot(user_id) -> dict:
    return {"kind": "user", "user_id": str(user_id), "sets": _user_sets(user_id)}


def build_pat_snapshot(public_id: str) -> dict | None:
    from accounts.models import PersonalAccessToken

    token = PersonalAccessToken.objects.select_related("user").filter(public_id=public_id).first()
    if token is None:
        return None
    return {
        "kind": "pat",
        "user_id": str(token.user_id),
        "digest": token.digest,
        "expires": _epoch(token.expires_at),
        "revoked": token.revoked_at is not None or not token.user.is_active,
        "sets": _user_sets(token.user_id),
    }


def select_limits(snapshot: dict, selector: str, extra: list[list]) -> tuple[str | None, list[list]]:
    """The limits of one request: its set, plus per-tenant route classes (`extra`). Mirrors Lua."""
    chosen = snapshot.get("set") or snapshot["sets"].get(selector) or snapshot["sets"][""]
    limits = list(chosen["limits"])
    tenant = chosen.get("tenant")
    if tenant:
        limits += [[f"{name}:{tenant}", limit, period] for name, limit, period in extra]
    return tenant, limits


def is_valid(snapshot: dict, now: float | None = None) -> bool:
    now = now if now is not None else timezone.now().timestamp()
    expires = snapshot.get("expires")
    return not snapshot.get("revoked") and (expires is None or expires > now)


def dumps(snapshot: dict) -> str:
    return json.dumps(snapshot, separators=(",", ":"))

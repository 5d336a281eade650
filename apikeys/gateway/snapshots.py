"""Snapshots: what the gateway needs to know about a credential, cached as JSON.

A snapshot carries the digest (never the secret), validity, scopes and the *limit sets* that
apply: a list of `[bucket, limit, period]` (a fixed window) or `[bucket, limit, period, burst]`
(a token bucket). Keys have one set (their tenant's plan plus the
key's own rate); people have one set per tenant slug (plan plus their role's rate) and a `""`
set used when no `X-Tenant` is sent. The Lua script and `select_limits` read the same shape.

They also carry what a read request needs to know about its caller without a query
(`apikeys.tenancy`, `apikeys.authentication`): the tenant's row (a key's, and each set's with
the person's role there) and, for a JWT's user, the user's row and the digest the token's
revocation claim is checked against. Rows leave out what must not sit in a cache or is never
needed on a read (`UNCACHED_*`); those fields load on access. Every change to a key, tenant,
plan, membership, token or user drops the snapshots that carry it (`apikeys.signals`).
"""
from __future__ import annotations

import json

from django.conf import settings
from django.utils import timezone
from rest_framework_simplejwt.utils import get_md5_hash_password

from core.rates import parse_rate
from core.rows import row_of
from tenants.models import DEFAULT_PLAN_RATES, Membership, Tenant

KEY_PREFIX = "gs:gw:k:"
PAT_PREFIX = "gs:gw:p:"
USER_PREFIX = "gs:gw:u:"
UNCACHED_TENANT_FIELDS = frozenset({"billing_account"})  # billing data: not needed to serve a request
UNCACHED_USER_FIELDS = frozenset({"password"})  # a password hash never goes to the cache


def key_cache_key(public_id: str) -> str:
    return KEY_PREFIX + public_id


def pat_cache_key(public_id: str) -> str:
    return PAT_PREFIX + public_id


def user_cache_key(user_id) -> str:
    return USER_PREFIX + str(user_id)


def _epoch(value) -> float | None:
    return value.timestamp() if value else None


def _limits(bucket: str, rates) -> list[list]:
    return [parse_rate(text).as_limit(bucket) for text in rates if text]


def tenant_limits(tenant: Tenant) -> list[list]:
    rates = tenant.plan.rates if tenant.plan_id else DEFAULT_PLAN_RATES
    return _limits(f"t:{tenant.pk}", rates)


def role_rates(role: str) -> list[str]:
    table = settings.API_USER_RATE_LIMITS
    return table.get(role) or table["none"]


def tenant_row(tenant: Tenant) -> dict:
    return row_of(tenant, exclude=UNCACHED_TENANT_FIELDS)


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
        "tenant_row": tenant_row(key.tenant),
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
            "tenant_row": tenant_row(tenant),
            "role": membership.role,
            "limits": tenant_limits(tenant) + _limits(f"u:{user_id}:{tenant.pk}", role_rates(membership.role)),
        }
    if len(memberships) == 1:
        sets[""] = sets[memberships[0].tenant.slug]
    else:
        sets[""] = {"tenant": None, "limits": _limits(f"u:{user_id}", role_rates("none"))}
    return sets


def build_user_snapshot(user_id) -> dict:
    from accounts.models import User

    user = User.objects.filter(pk=user_id).first()
    snapshot = {"kind": "user", "user_id": str(user_id), "sets": _user_sets(user_id)}
    if user is not None:
        snapshot["user_row"] = row_of(user, exclude=UNCACHED_USER_FIELDS)
        snapshot["password_digest"] = get_md5_hash_password(user.password)  # the JWT's revocation claim
    return snapshot


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
        limits += [[f"{name}:{tenant}", *rest] for name, *rest in extra]
    return tenant, limits


def is_valid(snapshot: dict, now: float | None = None) -> bool:
    now = now if now is not None else timezone.now().timestamp()
    expires = snapshot.get("expires")
    return not snapshot.get("revoked") and (expires is None or expires > now)


def dumps(snapshot: dict) -> str:
    return json.dumps(snapshot, separators=(",", ":"))

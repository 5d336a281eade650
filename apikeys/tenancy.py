"""The tenant a request acts in and the caller's rights there (`settings.TENANT_CONTEXT_RESOLVER`).

An API key carries its tenant; a person names it with `X-Tenant` (or the path's slug) or has
exactly one membership (docs/api.md, "Tenant context"). A read (a safe method, or an action the
policy table calls a read, such as asking for recommendations) takes tenant and role from the
credential snapshot the gateway already read for this request (`apikeys.gateway.snapshots`,
dropped whenever a key, tenant, plan or membership changes), so a hot list costs no lookup.
Writes, and callers without such a snapshot (long-lived connections checked by
`apikeys.access`, gateway-exempt routes), read the database: a write never starts from a
cached row, and a re-check never trusts a cache that may lag a revocation.
"""
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.permissions import SAFE_METHODS

from apikeys.authentication import ApiKeyPrincipal
from core.api.exceptions import TenantRequired
from core.api.tenancy import TenantContext
from core.rows import instance_from_row
from tenants.models import Membership, Tenant


def _snapshot(request, principal) -> dict | None:
    """The gateway's snapshot of this request's credential, when the request is a read: a safe
    method, or a view action the policy table calls a read (`reads_only`, set by the viewset)."""
    if getattr(request, "method", None) not in SAFE_METHODS and not getattr(request, "reads_only", False):
        return None
    state = getattr(getattr(request, "_request", None), "gateway", None)
    snapshot = getattr(state, "snapshot", None) or {}
    if isinstance(principal, ApiKeyPrincipal):
        return snapshot if snapshot.get("kind") == "key" and snapshot.get("key_id") == principal.key_id else None
    if snapshot.get("kind") in ("user", "pat") and snapshot.get("user_id") == str(principal.pk):
        return snapshot
    return None


def _key_context(principal: ApiKeyPrincipal, snapshot: dict | None, requested_slug: str) -> TenantContext:
    if snapshot is not None and "tenant_row" in snapshot:
        tenant = instance_from_row(Tenant, snapshot["tenant_row"])
    else:
        tenant = Tenant.objects.filter(pk=principal.tenant_id).first()
    # A key never switches tenant: naming another one is "not found", like any foreign object.
    if tenant is None or tenant.status == Tenant.Status.DELETED or (requested_slug and requested_slug != tenant.slug):
        raise NotFound()
    return TenantContext(tenant=tenant, scopes=principal.scopes)


def _cached_user_context(snapshot: dict, requested_slug: str) -> TenantContext | None:
    """From the person's membership sets (deleted tenants are not in them); None: not cached."""
    chosen = snapshot["sets"].get(requested_slug)
    if chosen is None:
        if requested_slug:
            raise NotFound()
        chosen = snapshot["sets"].get("")
    if chosen is not None and chosen.get("tenant") is None:  # none or several memberships
        raise TenantRequired()
    if chosen is None or "tenant_row" not in chosen:  # a snapshot cached before rows were kept
        return None
    return TenantContext(tenant=instance_from_row(Tenant, chosen["tenant_row"]), role=chosen["role"])


def _stored_user_context(user, requested_slug: str) -> TenantContext:
    memberships = Membership.objects.select_related("tenant").filter(user=user).exclude(
        tenant__status=Tenant.Status.DELETED
    )
    if requested_slug:
        membership = memberships.filter(tenant__slug=requested_slug).first()
        if membership is None:
            raise NotFound()
    else:
        found = list(memberships[:2])
        if len(found) != 1:
            raise TenantRequired()
        membership = found[0]
    return TenantContext(tenant=membership.tenant, role=membership.role)


def tenant_context(request, requested_slug: str) -> TenantContext:
    principal = request.user
    snapshot = _snapshot(request, principal)
    if isinstance(principal, ApiKeyPrincipal):
        context = _key_context(principal, snapshot, requested_slug)
    else:
        context = _cached_user_context(snapshot, requested_slug) if snapshot is not None else None
        if context is None:
            context = _stored_user_context(principal, requested_slug)
    if context.tenant.status == Tenant.Status.SUSPENDED:
        raise PermissionDenied("This tenant is suspended.")
    return context

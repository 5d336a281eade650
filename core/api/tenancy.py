"""Tenant context and the base viewset every tenant-scoped endpoint inherits.

Resolution (docs/api.md, "Tenant context"): an API key carries its tenant; a person names it
with `X-Tenant: <slug>` or, without the header, uses their only membership, else 400
TENANT_REQUIRED. A tenant the caller is not in answers 404 (no enumeration); a suspended
tenant answers 403 on every call.

Core knows no tenant, key or role: the domains plug in through two settings.
`TENANT_CONTEXT_RESOLVER` (a dotted path; `apikeys.tenancy.tenant_context`) turns the request's
authenticated principal and the requested slug into a `TenantContext`, and
`TENANT_PERMISSION_CLASSES` (`tenants.api.permissions.TenantPolicyPermission`, the policy
table of `tenants/policy.py`) decide whether the view's action is allowed.
"""
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string
from rest_framework import permissions, viewsets

from core.api.plain import PlainListSerializer

TENANT_HEADER = "HTTP_X_TENANT"
# The policy's names for "see" and "change" (`tenants.policy.Action.READ` / `.WRITE`): the
# action of a view action that `action_policy` does not name.
READ, WRITE = "read", "write"


@dataclass(frozen=True)
class TenantContext:
    """The tenant a request acts in and the caller's rights there: a role or a key's scopes."""

    tenant: Any  # the tenant model instance
    role: str | None = None  # a person's membership role
    scopes: frozenset | None = None  # an API key's scopes

    @property
    def is_key(self) -> bool:
        return self.scopes is not None


@cache
def _load(path: str):
    return import_string(path)


def resolve_tenant_context(request, *, slug: str | None = None) -> TenantContext:
    """The caller's tenant and rights; cached on the request. `slug` overrides the header."""
    cached = getattr(request, "tenant_context", None)
    if cached is not None:
        return cached
    requested = slug if slug is not None else request.META.get(TENANT_HEADER, "").strip()
    context = _load(settings.TENANT_CONTEXT_RESOLVER)(request, requested)
    request.tenant_context = context
    request.tenant = context.tenant
    request._request.tenant = context.tenant  # for the access log and metering
    return context


class TenantScopedViewSet(viewsets.GenericViewSet):
    """Base for every tenant-scoped endpoint: resolves the tenant, enforces the policy table and
    restricts the queryset, so isolation cannot be forgotten by a subclass.

    Subclasses set `queryset`, `serializer_class`, optionally `action_policy` (view action →
    the policy's action; default READ for safe methods, WRITE otherwise), `tenant_field` and
    `owner_field`. Permission classes a subclass adds apply on top of the tenant policy's.
    """

    permission_classes = [permissions.IsAuthenticated]
    action_policy: dict[str, str] = {}
    tenant_field = "tenant"
    owner_field: str | None = None

    def get_permissions(self):
        policy = [_load(path)() for path in settings.TENANT_PERMISSION_CLASSES]
        return [*super().get_permissions(), *policy]

    def get_tenant_context(self) -> TenantContext:
        # A POST that only reads (the policy's READ, e.g. asking for recommendations) may take
        # its tenant from the credential snapshot, as a GET does (TENANT_CONTEXT_RESOLVER).
        self.request.reads_only = self.required_action() == READ
        return resolve_tenant_context(self.request)

    @property
    def tenant(self):
        return self.get_tenant_context().tenant

    def required_action(self) -> str:
        if self.action in self.action_policy:
            return self.action_policy[self.action]
        return READ if self.request.method in permissions.SAFE_METHODS else WRITE

    def get_queryset(self):
        return super().get_queryset().filter(**{self.tenant_field: self.tenant})

    def get_serializer(self, *args, **kwargs):
        # List pages are built as plain data (core/api/plain.py), the serializer's output.
        if self.action == "list" and kwargs.get("many") and args and set(kwargs) == {"many"}:
            return PlainListSerializer(self.get_serializer_class(), args[0], self.get_serializer_context())
        return super().get_serializer(*args, **kwargs)

    def actor(self):
        """Who did it, for `created_by` and audit: the user, or None for an API key (no pk)."""
        user = self.request.user
        return user if getattr(user, "pk", None) is not None else None

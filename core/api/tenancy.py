"""Tenant context and the base viewset every tenant-scoped endpoint inherits.

Resolution (docs/api.md, "Tenant context"): an API key carries its tenant; a person names it with `X-Tenant: <slug>`
or, without the header, uses their only membership, else 400 TENANT_REQUIRED. A tenant the
caller is not in answers 404 (no enumeration); a suspended tenant answers 403 on every call.
"""
from dataclasses import dataclass

from rest_framework import permissions, viewsets
from rest_framework.exceptions import NotFound, PermissionDenied

from apikeys.authentication import ApiKeyPrincipal
from core.api.exceptions import TenantRequired
from core.api.plain import PlainListSerializer
from tenants.models import Membership, Tenant
from tenants.policy import Action, Role, requirement, role_above, role_allows, scopes_allow

TENANT_HEADER = "HTTP_X_TENANT"


@dataclass(frozen=True)
class TenantContext:
    tenant: Tenant
    role: str | None = None  # a person's membership role
    scopes: frozenset | None = None  # an API key's scopes

    @property
    def is_key(self) -> bool:
        return self.scopes is not None

    def allows(self, action: Action) -> bool:
        if self.is_key:
            return scopes_allow(self.scopes, action)
        return role_allows(self.role, action)


def _tenant_for_key(principal: ApiKeyPrincipal, requested_slug: str) -> TenantContext:
    tenant = Tenant.objects.filter(pk=principal.tenant_id).exclude(status=Tenant.Status.DELETED).first()
    # A key never switches tenant: naming another one is "not found", like any foreign object.
    if tenant is None or (requested_slug and requested_slug != tenant.slug):
        raise NotFound()
    return TenantContext(tenant=tenant, scopes=principal.scopes)


def _tenant_for_user(user, requested_slug: str) -> TenantContext:
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


def resolve_tenant_context(request, *, slug: str | None = None) -> TenantContext:
    """The caller's tenant and rights; cached on the request. `slug` overrides the header."""
    cached = getattr(request, "tenant_context", None)
    if cached is not None:
        return cached
    requested = slug if slug is not None else request.META.get(TENANT_HEADER, "").strip()
    if isinstance(request.user, ApiKeyPrincipal):
        context = _tenant_for_key(request.user, requested)
    else:
        context = _tenant_for_user(request.user, requested)
    if context.tenant.status == Tenant.Status.SUSPENDED:
        raise PermissionDenied("This tenant is suspended.")
    request.tenant_context = context
    request.tenant = context.tenant
    request._request.tenant = context.tenant  # for the access log and metering
    return context


class TenantPolicyPermission(permissions.BasePermission):
    """Checks the view's action against the policy table; members manage only their own rows."""

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        context = view.get_tenant_context()
        action = view.required_action()
        if context.allows(action):
            return True
        # Per-request instance (DRF instantiates permissions per request): the 403 says what is needed.
        self.message = requirement(action, is_key=context.is_key)
        return False

    def has_object_permission(self, request, view, obj) -> bool:
        context = view.get_tenant_context()
        owner_field = getattr(view, "owner_field", None)
        if (
            owner_field
            and request.method not in permissions.SAFE_METHODS
            and not context.is_key
            and context.role == Role.MEMBER
        ):
            if getattr(obj, f"{owner_field}_id", None) == request.user.pk:
                return True
            self.message = (f"Members change only what they created; this needs the {role_above(Role.MEMBER)} "
                            "role or higher.")
            return False
        return True


class TenantScopedViewSet(viewsets.GenericViewSet):
    """Base for every tenant-scoped endpoint: resolves the tenant, enforces the policy table and
    restricts the queryset, so isolation cannot be forgotten by a subclass.

    Subclasses set `queryset`, `serializer_class`, optionally `action_policy` (view action →
    `Action`; default READ for safe methods, WRITE otherwise), `tenant_field` and `owner_field`.
    """

    permission_classes = [permissions.IsAuthenticated, TenantPolicyPermission]
    action_policy: dict[str, Action] = {}
    tenant_field = "tenant"
    owner_field: str | None = None

    def get_tenant_context(self) -> TenantContext:
        return resolve_tenant_context(self.request)

    @property
    def tenant(self) -> Tenant:
        return self.get_tenant_context().tenant

    def required_action(self) -> Action:
        if self.action in self.action_policy:
            return self.action_policy[self.action]
        return Action.READ if self.request.method in permissions.SAFE_METHODS else Action.WRITE

    def get_queryset(self):
        return super().get_queryset().filter(**{self.tenant_field: self.tenant})

    def get_serializer(self, *args, **kwargs):
        # List pages are built as plain data (core/api/plain.py), the serializer's output.
        if self.action == "list" and kwargs.get("many") and args and set(kwargs) == {"many"}:
            return PlainListSerializer(self.get_serializer_class(), args[0], self.get_serializer_context())
        return super().get_serializer(*args, **kwargs)

    def actor(self):
        """Who did it, for `created_by` and audit: the user, or None for an API key."""
        user = self.request.user
        return None if isinstance(user, ApiKeyPrincipal) else user

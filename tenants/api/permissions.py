"""Permissions of the tenants API, and the policy check of every tenant-scoped endpoint.

`TenantPolicyPermission` is what `core.api.tenancy.TenantScopedViewSet` applies (named in
`settings.TENANT_PERMISSION_CLASSES`, so core imports no domain); the other helpers only say
how strong a caller's grants may be."""
from rest_framework import permissions

from core.api.tenancy import TenantContext
from tenants.policy import Role, allows, key_role_ceiling, requirement, role_above


class TenantPolicyPermission(permissions.BasePermission):
    """Checks the view's action against the policy table; members manage only their own rows."""

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        context = view.get_tenant_context()
        action = view.required_action()
        if allows(context, action):
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


def grant_ceiling(context: TenantContext) -> str:
    """The strongest role this caller may grant, change or remove: a person's own role; a key's
    `key_role_ceiling` (at most `member`, and within its scopes)."""
    return key_role_ceiling(context.scopes) if context.is_key else context.role

"""Permissions of the tenants API. Tenant-scoped endpoints use `TenantPolicyPermission` (via
`TenantScopedViewSet`); these helpers only say how strong a caller's grants may be."""
from config.api.tenancy import TenantContext
from tenants.policy import Role


def grant_ceiling(context: TenantContext) -> str:
    """The strongest role this caller may grant: a person's own role; an admin-scoped key acts
    as an admin (keys never make owners)."""
    return context.role if not context.is_key else Role.ADMIN

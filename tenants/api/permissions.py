"""Permissions of the tenants API. Tenant-scoped endpoints use `TenantPolicyPermission` (via
`TenantScopedViewSet`); these helpers only say how strong a caller's grants may be."""
from core.api.tenancy import TenantContext
from tenants.policy import key_role_ceiling


def grant_ceiling(context: TenantContext) -> str:
    """The strongest role this caller may grant, change or remove: a person's own role; a key's
    `key_role_ceiling` (at most `member`, and within its scopes)."""
    return key_role_ceiling(context.scopes) if context.is_key else context.role

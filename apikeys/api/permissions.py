"""Permissions of the apikeys API: the policy table decides (via `TenantScopedViewSet`); this
module only says which scopes a caller may put on a key — never more than their own rights."""
from core.api.tenancy import TenantContext
from tenants.policy import scopes_for_role


def grantable_scopes(context: TenantContext) -> set[str]:
    """A key grants at most its own scopes; a person at most what their role allows."""
    if context.is_key:
        return set(context.scopes)
    return scopes_for_role(context.role)

"""Tenants' part in other apps' writes, through the signals those apps send."""
from django.db.models import Count

from core.api.exceptions import Conflict
from tenants.models import Membership, Tenant
from tenants.policy import Role


def sole_owner_tenants(user) -> list[str]:
    """Slugs of live tenants in which this user is the only owner.

    Locks those tenants' rows first, the same lock membership changes take, so two owners
    deleting their accounts at once (or one deleting while the other is demoted) cannot both
    pass the check; in primary-key order, so two deletions never wait on each other in a cycle.
    """
    owned_ids = Membership.objects.filter(user=user, role=Role.OWNER).values_list("tenant_id", flat=True)
    locked = Tenant.objects.select_for_update().filter(pk__in=list(owned_ids)).order_by("pk")
    list(locked.values_list("pk", flat=True))
    # Re-read under the locks: a role may have changed while we waited.
    owned = Membership.objects.filter(user=user, role=Role.OWNER).exclude(tenant__status=Tenant.Status.DELETED)
    slugs = []
    for membership in owned.select_related("tenant"):
        owners = (
            Membership.objects.filter(tenant=membership.tenant_id, role=Role.OWNER)
            .exclude(user__status__in=[user.Status.DELETED])
            .aggregate(n=Count("id"))["n"]
        )
        if owners <= 1:
            slugs.append(membership.tenant.slug)
    return slugs


def refuse_deleting_a_last_owner(sender, *, user, **kwargs) -> None:
    """`accounts.signals.user_deleting`: a tenant must not be left without an owner."""
    blocking = sole_owner_tenants(user)
    if blocking:
        raise Conflict("Transfer ownership or delete these tenants first: " + ", ".join(sorted(blocking)) + ".")

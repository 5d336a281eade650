"""Reads of the tenants app: every queryset is scoped to a tenant or to a person."""
from django.db.models import Count, OuterRef, QuerySet, Subquery

from tenants.models import Invitation, Membership, Tenant


def tenant_list(*, user) -> QuerySet[Tenant]:
    """The user's live tenants, each annotated with the user's `my_role`."""
    role = Membership.objects.filter(tenant=OuterRef("pk"), user=user).values("role")[:1]
    return Tenant.objects.visible_to(user).select_related("plan").annotate(my_role=Subquery(role)).distinct()


def tenant_list_for_staff() -> QuerySet[Tenant]:
    # Meta.ordering is dropped from GROUP BY queries; keep pages stable.
    return Tenant.objects.select_related("plan").annotate(member_count=Count("memberships")).order_by("name", "pk")


def invitation_get_by_token(*, token: str) -> Invitation | None:
    """The invitation an e-mailed token names (only its digest is stored), with its tenant."""
    from core.credentials import digest

    return Invitation.objects.select_related("tenant", "invited_by").filter(token_digest=digest(token)).first()

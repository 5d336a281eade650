"""Writes of the tenants app: tenants, memberships, invitations. Every role or status change is
audited. `actor_role` is the acting person's role in the tenant (the ceiling for what they may
grant); None means platform staff (admin site, staff API), who have no ceiling.
"""
from datetime import timedelta

from django.core import signing
from django.db import IntegrityError, transaction
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.text import slugify
from rest_framework.exceptions import PermissionDenied, ValidationError

from accounts.addresses import normalize_email
from accounts.models import User
from core.api.exceptions import Conflict
from core.audit import audit_record
from core.credentials import digest
from core.db import save_existing
from notifications.services import email_send, public_url
from tenants.billing import clean_billing_account
from tenants.models import Invitation, Membership, Plan, Tenant
from tenants.policy import Role, role_at_least

INVITATION_LIFETIME = timedelta(days=7)
INVITATION_SALT = "tenants.invitation"
DEFAULT_PLAN_SLUG = "default"


def _unique_slug(name: str) -> str:
    base = slugify(name)[:40].strip("-") or "tenant"
    slug, n = base, 1
    while Tenant.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def default_plan() -> Plan | None:
    return Plan.objects.filter(slug=DEFAULT_PLAN_SLUG).first()


# --- Tenants ----------------------------------------------------------------------------------
@transaction.atomic
def tenant_create(
    *,
    name: str,
    creator: User | None,
    slug: str | None = None,
    billing_account: dict | None = None,
    plan: Plan | None = None,
    actor=None,
) -> Tenant:
    """Creates the tenant; the creator (if any) becomes its owner."""
    slug = slug or _unique_slug(name)
    if Tenant.objects.filter(slug=slug).exists():
        raise ValidationError({"slug": ["This slug is taken."]})
    tenant = Tenant(
        name=name, slug=slug, billing_account=clean_billing_account(billing_account), plan=plan or default_plan()
    )
    try:
        with transaction.atomic():
            tenant.save()
    except IntegrityError:  # a concurrent create took the slug
        raise ValidationError({"slug": ["This slug is taken."]})
    audit_record(action="tenant.create", target=tenant, actor=actor or creator, tenant=tenant, changes={"slug": slug})
    if creator is not None:
        Membership.objects.create(tenant=tenant, user=creator, role=Role.OWNER)
        audit_record(
            action="membership.create",
            target=tenant,
            actor=actor or creator,
            tenant=tenant,
            changes={"user": str(creator.pk), "role": Role.OWNER},
        )
    return tenant


@transaction.atomic
def tenant_update(*, tenant: Tenant, actor=None, **fields) -> Tenant:
    """Edit name, billing account and (staff) plan and status."""
    status = fields.pop("status", None)
    allowed = {"name", "billing_account", "plan"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValidationError({field: ["This field cannot be changed here."] for field in unknown})
    if "billing_account" in fields:
        fields["billing_account"] = clean_billing_account(fields["billing_account"])
    changed = [field for field, value in fields.items() if getattr(tenant, field) != value]
    plan_before = getattr(tenant.plan, "slug", None)
    details = _details_changes(tenant, fields, changed)
    for field in changed:
        setattr(tenant, field, fields[field])
    if changed:
        tenant.save(update_fields=[*changed, "updated_at"])
        if details:
            audit_record(action="tenant.update", target=tenant, actor=actor, tenant=tenant, changes=details)
        if "plan" in changed:
            audit_record(
                action="tenant.plan", target=tenant, actor=actor, tenant=tenant,
                changes={"plan": [plan_before, getattr(tenant.plan, "slug", None)]},
            )
    if status is not None:
        tenant = tenant_set_status(tenant=tenant, status=status, actor=actor)
    return tenant


def _details_changes(tenant: Tenant, fields: dict, changed: list[str]) -> dict:
    """Audit entry for name and billing edits: the name before/after; for the billing account
    only which of its fields changed (it holds addresses and tax ids)."""
    details = {}
    if "name" in changed:
        details["name"] = [tenant.name, fields["name"]]
    if "billing_account" in changed:
        before, after = tenant.billing_account or {}, fields["billing_account"] or {}
        details["billing_account"] = sorted(key for key in {*before, *after} if before.get(key) != after.get(key))
    return details


@transaction.atomic
def tenant_set_status(*, tenant: Tenant, status: str, actor=None) -> Tenant:
    """Suspend, reactivate or (soft) delete a tenant."""
    if status not in Tenant.Status.values:
        raise ValidationError({"status": [f"Unknown status {status!r}."]})
    tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
    before = tenant.status
    if before != status:
        tenant.status = status
        tenant.save(update_fields=["status", "updated_at"])
        audit_record(
            action=f"tenant.status.{status}", target=tenant, actor=actor, tenant=tenant,
            changes={"status": [before, status]},
        )
    return tenant


def tenant_suspend(*, tenant: Tenant, actor=None) -> Tenant:
    return tenant_set_status(tenant=tenant, status=Tenant.Status.SUSPENDED, actor=actor)


def tenant_reactivate(*, tenant: Tenant, actor=None) -> Tenant:
    return tenant_set_status(tenant=tenant, status=Tenant.Status.ACTIVE, actor=actor)


def tenant_delete(*, tenant: Tenant, actor=None) -> Tenant:
    return tenant_set_status(tenant=tenant, status=Tenant.Status.DELETED, actor=actor)


# --- Memberships ------------------------------------------------------------------------------
def _check_ceiling(*, role: str, actor_role: str | None) -> None:
    if actor_role is not None and not role_at_least(actor_role, role):
        raise PermissionDenied(f"You cannot grant, change or remove a role above {Role(actor_role).value}.")


def _lock_tenant(tenant: Tenant) -> Tenant:
    """Serialise membership changes of one tenant, so two demotions cannot both pass the
    'at least one owner' check (a row lock on PostgreSQL; SQLite serialises writers anyway)."""
    return Tenant.objects.select_for_update().get(pk=tenant.pk)


def _other_owners(membership: Membership) -> int:
    return (
        Membership.objects.filter(tenant=membership.tenant_id, role=Role.OWNER)
        .exclude(pk=membership.pk)
        .exclude(user__status=User.Status.DELETED)
        .count()
    )


@transaction.atomic
def membership_add(*, tenant: Tenant, user: User, role: str, actor=None, actor_role: str | None = None) -> Membership:
    _check_ceiling(role=role, actor_role=actor_role)
    if not user.is_active:
        raise ValidationError({"email": ["This account is not active."]})
    _lock_tenant(tenant)
    if Membership.objects.filter(tenant=tenant, user=user).exists():
        raise Conflict("This user is already a member.")
    membership = Membership.objects.create(tenant=tenant, user=user, role=role)
    audit_record(
        action="membership.create", target=membership, actor=actor, tenant=tenant,
        changes={"user": str(user.pk), "role": role},
    )
    return membership


@transaction.atomic
def membership_change_role(
    *, membership: Membership, role: str, actor=None, actor_role: str | None = None
) -> Membership:
    if role not in Role.values:
        raise ValidationError({"role": [f"Unknown role {role!r}."]})
    _check_ceiling(role=role, actor_role=actor_role)
    _lock_tenant(membership.tenant)
    membership = get_object_or_404(Membership.objects.select_related("tenant", "user"), pk=membership.pk)
    _check_ceiling(role=membership.role, actor_role=actor_role)  # nobody demotes a stronger role
    before = membership.role
    if before == role:
        return membership
    if before == Role.OWNER and _other_owners(membership) == 0:
        raise Conflict("A tenant keeps at least one owner; promote another member first.")
    membership.role = role
    membership.save(update_fields=["role"])
    audit_record(
        action="membership.role", target=membership, actor=actor, tenant=membership.tenant,
        changes={"user": str(membership.user_id), "role": [before, role]},
    )
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership, actor=None, actor_role: str | None = None) -> None:
    _lock_tenant(membership.tenant)
    membership = get_object_or_404(Membership.objects.select_related("tenant"), pk=membership.pk)
    leaving = getattr(actor, "pk", None) == membership.user_id
    if not leaving:
        _check_ceiling(role=membership.role, actor_role=actor_role)
    if membership.role == Role.OWNER and _other_owners(membership) == 0:
        raise Conflict("A tenant keeps at least one owner; promote another member first.")
    audit_record(
        action="membership.delete", target=membership, actor=actor, tenant=membership.tenant,
        changes={"user": str(membership.user_id), "role": membership.role},
    )
    membership.delete()


# --- Invitations ------------------------------------------------------------------------------
@transaction.atomic
def invitation_create(
    *, tenant: Tenant, email: str, role: str, actor=None, actor_role: str | None = None
) -> Invitation:
    """Invite an address; a pending invitation to the same address is replaced. The token is
    only ever sent by e-mail."""
    _check_ceiling(role=role, actor_role=actor_role)
    email = normalize_email(email)
    if Membership.objects.filter(tenant=tenant, user__email=email).exists():
        raise Conflict("This address already belongs to a member.")
    now = timezone.now()
    Invitation.objects.filter(
        tenant=tenant, email=email, accepted_at__isnull=True, revoked_at__isnull=True
    ).update(revoked_at=now)
    invitation = Invitation(
        tenant=tenant,
        email=email,
        role=role,
        invited_by=actor if isinstance(actor, User) else None,
        expires_at=now + INVITATION_LIFETIME,
    )
    token = invitation_token(invitation)
    invitation.token_digest = digest(token)
    invitation.save()
    audit_record(
        action="invitation.create", target=invitation, actor=actor, tenant=tenant,
        changes={"email": email, "role": role},
    )
    from tenants.tasks import send_invitation_email  # tasks import this module

    invitation_id = str(invitation.pk)
    transaction.on_commit(lambda: send_invitation_email.delay(invitation_id=invitation_id))
    return invitation


def invitation_token(invitation: Invitation) -> str:
    """The invitation's token: signed from its id with the server key, so the worker can
    rebuild it for the e-mail and nothing but its digest is stored or passed around."""
    return signing.Signer(salt=INVITATION_SALT).sign(str(invitation.pk))  # deterministic: no timestamp


def invitation_email_send(*, invitation_id: str) -> None:
    """Worker side: mail the invitation if it is still pending."""
    invitation = Invitation.objects.select_related("tenant", "invited_by").filter(pk=invitation_id).first()
    if invitation is None or invitation.status_at(timezone.now()) != "pending":
        return
    token = invitation_token(invitation)
    inviter = invitation.invited_by
    email_send(
        template="invitation",
        to=invitation.email,
        context={
            "inviter": (inviter.name or inviter.email) if inviter else invitation.tenant.name,
            "tenant_name": invitation.tenant.name,
            "role": invitation.role,
            "link": public_url(f"invitations/accept?token={token}"),
            "token": token,
            "expires_at": invitation.expires_at.strftime("%Y-%m-%d %H:%M UTC"),
        },
    )


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, actor=None) -> Invitation:
    if invitation.accepted_at is None and invitation.revoked_at is None:
        invitation.revoked_at = timezone.now()
        save_existing(invitation, update_fields=["revoked_at"])
        audit_record(
            action="invitation.revoke", target=invitation, actor=actor, tenant=invitation.tenant,
            changes={"email": invitation.email},
        )
    return invitation


@transaction.atomic
def invitation_accept(*, token: str, user: User) -> Membership:
    """The signed-in user whose address was invited joins with the invited role, once."""
    invitation = (
        Invitation.objects.select_for_update()
        .select_related("tenant")
        .filter(token_digest=digest(token))
        .first()
    )
    if invitation is None:
        raise ValidationError({"token": ["This invitation does not exist."]})
    state = invitation.status_at(timezone.now())
    if state != "pending":
        raise ValidationError({"token": [f"This invitation has been {state}."]}, code=state)
    if invitation.tenant.status != Tenant.Status.ACTIVE:
        raise ValidationError({"token": ["This tenant no longer accepts members."]})
    if normalize_email(invitation.email) != normalize_email(user.email):
        raise PermissionDenied("This invitation was sent to another e-mail address.")
    if Membership.objects.filter(tenant=invitation.tenant, user=user).exists():
        raise Conflict("You are already a member of this tenant.")
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["accepted_at"])
    membership = Membership.objects.create(tenant=invitation.tenant, user=user, role=invitation.role)
    audit_record(
        action="invitation.accept", target=membership, actor=user, tenant=invitation.tenant,
        changes={"user": str(user.pk), "role": invitation.role, "invitation": str(invitation.pk)},
    )
    return membership




# --- Plans ------------------------------------------------------------------------------------


# Billing's fields (docs/billing.md); rates are the limiter's.
PLAN_PRICE_FIELDS = (
    "price_cents", "currency", "interval", "included_requests", "overage_cents_per_1000", "stripe_price_id",
)
# Quotas beyond the rates (docs/files.md: `storage_bytes`, null is no cap).
PLAN_QUOTA_FIELDS = ("storage_bytes",)
PLAN_FIELDS = ("name", "slug", "rates", *PLAN_PRICE_FIELDS, *PLAN_QUOTA_FIELDS)


@transaction.atomic
def plan_create(*, name: str, slug: str, rates: list[str], actor=None, **prices) -> Plan:
    """`prices`: any of PLAN_PRICE_FIELDS or PLAN_QUOTA_FIELDS (a free monthly plan without caps
    without them)."""
    unknown = set(prices) - set(PLAN_PRICE_FIELDS) - set(PLAN_QUOTA_FIELDS)
    if unknown:
        raise TypeError(f"Unknown plan fields: {sorted(unknown)}")
    plan = Plan.objects.create(name=name, slug=slug, rates=list(rates), **prices)
    audit_record(
        action="plan.create", target=plan, actor=actor, changes={"slug": slug, "rates": list(rates), **prices}
    )
    return plan


@transaction.atomic
def plan_update(*, plan: Plan, actor=None, **fields) -> Plan:
    """Saving fires the signal that drops every affected tenant's cached limits."""
    changes = {}
    for field in PLAN_FIELDS:
        if field in fields and getattr(plan, field) != fields[field]:
            changes[field] = fields[field]
            setattr(plan, field, fields[field])
    if changes:
        plan.save()
        audit_record(action="plan.update", target=plan, actor=actor, changes=changes)
    return plan


@transaction.atomic
def plan_delete(*, plan: Plan, actor=None) -> None:
    if Tenant.objects.filter(plan=plan).exists():
        raise Conflict("Tenants are on this plan; move them to another plan first.")
    audit_record(action="plan.delete", target=plan, actor=actor, changes={"slug": plan.slug})
    plan.delete()

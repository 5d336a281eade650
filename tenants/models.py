"""Organisations, their plans, members and invitations."""
import uuid

from django.conf import settings
from django.db import models

from tenants.policy import Role

DEFAULT_PLAN_RATES = ["1000/m", "50000/h", "1000000/d"]


def default_plan_rates() -> list[str]:
    return list(DEFAULT_PLAN_RATES)


class Plan(models.Model):
    """Rate limits and quotas a tenant buys; `rates` like ["1000/m", "50000/h", "1000000/d"].

    The price fields are read by the billing app (docs/billing.md): a flat fee per interval
    that includes `included_requests` metered calls, then `overage_cents_per_1000` per 1,000
    more. Amounts are integers in the currency's minor unit (cents for EUR and USD).
    """

    class Interval(models.TextChoices):
        MONTH = "month"
        YEAR = "year"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=50, unique=True)
    rates = models.JSONField(default=default_plan_rates)
    price_cents = models.PositiveIntegerField(default=0, help_text="Flat fee per interval, in minor units.")
    currency = models.CharField(max_length=3, default="eur", help_text="ISO 4217, lower case (eur, usd).")
    interval = models.CharField(max_length=5, choices=Interval.choices, default=Interval.MONTH)
    included_requests = models.PositiveBigIntegerField(default=0, help_text="Metered API calls the fee includes.")
    overage_cents_per_1000 = models.PositiveIntegerField(
        default=0, help_text="Per 1,000 calls beyond the included ones, in minor units."
    )
    stripe_price_id = models.CharField(
        max_length=255, blank=True, help_text="An existing Stripe plan/price id; empty: created from these fields."
    )
    # Stored bytes a tenant on this plan may keep (files); null is no cap.
    storage_bytes = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TenantQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Tenants the user is a member of and that are not deleted."""
        return self.filter(memberships__user=user).exclude(status=Tenant.Status.DELETED)


class Tenant(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active"
        SUSPENDED = "suspended"
        DELETED = "deleted"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=150)
    slug = models.SlugField(max_length=50, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    billing_account = models.JSONField(default=dict, blank=True)
    plan = models.ForeignKey(Plan, null=True, blank=True, on_delete=models.PROTECT, related_name="tenants")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        # Staff need it (besides change) to suspend or reactivate, in the admin and /api/admin/.
        permissions = [("suspend_tenant", "Can suspend and reactivate tenants")]

    def __str__(self) -> str:
        return self.slug


class TenantOwnedQuerySet(models.QuerySet):
    """For models that belong to a tenant: the one filter every tenant-scoped read uses."""

    def for_tenant(self, tenant):
        return self.filter(tenant=tenant)


class TenantOwnedModel(models.Model):
    """Abstract base of every row a tenant owns: UUID key, tenant, who created it and when.

    The tenant's reverse accessor is hidden (`related_name="+"`): rows are reached from a
    tenant through `Model.objects.for_tenant(tenant)`, the one scoped path, never through an
    unscoped `tenant.<rows>` manager. A model that needs a reverse path (Membership, for
    `Tenant.objects.visible_to`) declares its own `tenant`.

    A model without one of the columns removes it by name (`updated_at = None`, Django's way of
    dropping an inherited field) and says why, so the schema stays what it is.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantOwnedQuerySet.as_manager()

    class Meta:
        abstract = True
        ordering = ["-created_at"]


class TenantOwnedNamedModel(TenantOwnedModel):
    """A tenant-owned row with a name unique within its tenant (API lookups and the admin's
    lists go by name)."""

    name = models.CharField(max_length=100)

    class Meta(TenantOwnedModel.Meta):
        abstract = True
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="%(app_label)s_%(class)s_unique_name")
        ]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """The link of a person to a tenant, with their role.

    Not a TenantOwnedModel: it is the link itself, stamped `joined_at` (the invitation says who
    invited), and the tenant's reverse path `memberships` is what `Tenant.objects.visible_to`
    and the staff list's member count join through. It is scoped like the others, though.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    joined_at = models.DateTimeField(auto_now_add=True)

    objects = TenantOwnedQuerySet.as_manager()

    class Meta:
        ordering = ["joined_at"]
        constraints = [models.UniqueConstraint(fields=["tenant", "user"], name="tenants_membership_unique")]

    def __str__(self) -> str:
        return f"{self.user} in {self.tenant} as {self.role}"


class Invitation(TenantOwnedModel):
    """An e-mail invitation; the token's digest is stored, never the token."""

    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    token_digest = models.CharField(max_length=64, unique=True, editable=False)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # `invited_by` is who created it (the name the API and e-mails use); its changes are the
    # accepted_at and revoked_at stamps.
    created_by = None
    updated_at = None

    def __str__(self) -> str:
        return f"{self.email} → {self.tenant} ({self.role})"

    def status_at(self, now) -> str:
        """pending | accepted | revoked | expired."""
        if self.accepted_at:
            return "accepted"
        if self.revoked_at:
            return "revoked"
        return "expired" if self.expires_at <= now else "pending"

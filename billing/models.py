"""Subscriptions, invoices with lines, payments and Stripe's webhook events (docs/billing.md).

Money is an integer count of the currency's minor unit (cents). An invoice is computed while
it is a draft and frozen once finalised: its lines refuse to change unless the invoice is a
draft, and the services only move a finalised invoice's status.
"""
import uuid

from django.db import models
from django.db.models import Q

from tenants.models import Tenant, TenantOwnedModel, TenantOwnedQuerySet


class Subscription(models.Model):
    """One per tenant: the plan is the tenant's own (`tenant.plan`); this row holds the periods."""

    class Status(models.TextChoices):
        TRIALING = "trialing"
        ACTIVE = "active"
        PAST_DUE = "past_due"
        CANCELED = "canceled"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="subscription")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    # Periods are whole UTC days, [start, end): the usage meter's rollups are daily.
    billing_anchor = models.DateTimeField(help_text="Periods are counted in intervals from here.")
    current_period_start = models.DateTimeField()
    current_period_end = models.DateTimeField()
    trial_end = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    canceled_at = models.DateTimeField(null=True, blank=True)
    # Dunning: when the first failed payment not yet recovered was reported.
    past_due_since = models.DateTimeField(null=True, blank=True)
    # When this dunning episode's "suspension coming" e-mail was enqueued (once per episode).
    suspension_warned_at = models.DateTimeField(null=True, blank=True)
    # True only when billing suspended the tenant, so a payment reactivates only those.
    suspended_for_nonpayment = models.BooleanField(default=False)
    stripe_customer_id = models.CharField(max_length=255, blank=True, db_index=True)
    stripe_subscription_id = models.CharField(max_length=255, blank=True)
    stripe_plan_id = models.CharField(max_length=255, blank=True, help_text="The Stripe plan it is on now.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantOwnedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # The close beat: live subscriptions whose period has ended.
            models.Index(fields=["current_period_end"], condition=~Q(status="canceled"), name="billing_sub_due"),
            # The dunning beat: past-due subscriptions by how long they have been.
            models.Index(fields=["past_due_since"], condition=Q(status="past_due"), name="billing_sub_past_due"),
        ]

    def __str__(self) -> str:
        return f"{self.tenant} ({self.status})"


class InvoiceSequence(models.Model):
    """The last invoice number issued: one row, locked while a number is taken, so numbers are
    sequential without gaps across all tenants (what most tax authorities ask)."""

    name = models.CharField(max_length=32, primary_key=True)
    last_value = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name}: {self.last_value}"


class Invoice(TenantOwnedModel):
    class Status(models.TextChoices):
        DRAFT = "draft"
        OPEN = "open"
        PAID = "paid"
        VOID = "void"
        UNCOLLECTIBLE = "uncollectible"

    class Collection(models.TextChoices):
        MANUAL = "manual"  # kept locally; paid by bank transfer, marked paid by an operator
        STRIPE = "stripe"  # pushed to Stripe, which charges the customer

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="invoices")
    number = models.CharField(max_length=32, unique=True, null=True, blank=True, help_text="Set when finalised.")
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    collection = models.CharField(max_length=8, choices=Collection.choices, default=Collection.MANUAL)
    plan_slug = models.CharField(max_length=50, blank=True, help_text="The plan the period was billed on.")
    currency = models.CharField(max_length=3)
    subtotal_cents = models.PositiveBigIntegerField(default=0)
    tax_cents = models.PositiveBigIntegerField(default=0)
    total_cents = models.PositiveBigIntegerField(default=0)
    stripe_invoice_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    finalized_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    # created_by stays empty: the close beat makes invoices, nobody in particular.

    class Meta(TenantOwnedModel.Meta):
        ordering = ["-period_start"]
        constraints = [
            # Two beats or a retry closing one period find this row instead of making another.
            models.UniqueConstraint(fields=["subscription", "period_start"], name="billing_invoice_one_per_period"),
        ]
        indexes = [
            models.Index(fields=["tenant", "-period_start"], name="billing_invoice_tenant_recent"),
            # The push beat: finalised Stripe invoices not yet in Stripe.
            models.Index(fields=["finalized_at"], condition=Q(collection="stripe", stripe_invoice_id=None),
                         name="billing_invoice_unpushed"),
        ]

    def __str__(self) -> str:
        return self.number or f"draft {self.period_start:%Y-%m-%d}"

    @property
    def is_draft(self) -> bool:
        return self.status == self.Status.DRAFT


class FinalisedInvoiceError(Exception):
    """A line of a finalised invoice was about to change."""


class InvoiceLine(models.Model):
    class Kind(models.TextChoices):
        PLAN = "plan"
        USAGE = "usage"

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=8, choices=Kind.choices)
    description = models.CharField(max_length=255)
    quantity = models.PositiveBigIntegerField()
    unit_cents = models.PositiveBigIntegerField()
    amount_cents = models.PositiveBigIntegerField()

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["invoice", "position"], name="billing_line_position")]

    def __str__(self) -> str:
        return self.description

    def save(self, *args, **kwargs):
        self._check_draft()
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        self._check_draft()
        return super().delete(*args, **kwargs)

    def _check_draft(self) -> None:
        if Invoice.objects.filter(pk=self.invoice_id).exclude(status=Invoice.Status.DRAFT).exists():
            raise FinalisedInvoiceError(f"Invoice {self.invoice_id} is finalised; its lines are immutable.")


class Payment(TenantOwnedModel):
    class Status(models.TextChoices):
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    invoice = models.ForeignKey(Invoice, null=True, blank=True, on_delete=models.SET_NULL, related_name="payments")
    amount_cents = models.PositiveBigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=16, choices=Status.choices)
    # The Stripe event that reported it (empty for a payment an operator recorded): an event
    # processed twice finds its payment instead of adding one.
    stripe_event_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    failure_message = models.CharField(max_length=500, blank=True)
    # created_by: the operator who recorded a manual payment; empty for Stripe's.

    class Meta(TenantOwnedModel.Meta):
        indexes = [models.Index(fields=["tenant", "-created_at"], name="billing_payment_tenant_recent")]

    def __str__(self) -> str:
        return f"{self.amount_cents} {self.currency} {self.status}"


class WebhookEvent(models.Model):
    """A Stripe event exactly as received (verified), stored once by its id."""

    class Status(models.TextChoices):
        PENDING = "pending"
        PROCESSED = "processed"
        IGNORED = "ignored"  # a type billing does not act on, or about nothing it knows
        FAILED = "failed"

    id = models.BigAutoField(primary_key=True)
    stripe_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100, db_index=True)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        indexes = [
            # The retry beat: events still pending (a lost task, a crashed worker).
            models.Index(fields=["received_at"], condition=Q(status="pending"), name="billing_event_pending"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.stripe_id}"

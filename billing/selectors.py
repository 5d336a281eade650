"""Reads of the billing app, always scoped to one tenant."""
from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import User
from apikeys.selectors import usage_summary
from billing import pricing
from billing.models import Invoice, Payment, Subscription
from tenants.models import Membership, Tenant
from tenants.policy import Role

# Billing e-mail goes to the people who may change the plan (`manage_billing`): never to
# operators, members or viewers.
BILLING_RECIPIENT_ROLES = (Role.OWNER, Role.ADMIN)


def metered_requests(*, tenant: Tenant, start: datetime, end: datetime) -> int:
    """The usage meter's exact request count for [start, end), whole UTC days: the numbers
    `/api/v1/usage` reports for the same days (it is the same selector)."""
    first, last = pricing.meter_days(start, end)
    if last < first:
        return 0
    return usage_summary(tenant=tenant, start=first, end=last, group_by="day")["total"]["requests"]


def invoice_list(*, tenant: Tenant) -> QuerySet[Invoice]:
    return Invoice.objects.for_tenant(tenant).prefetch_related("lines")


def invoice_get(*, tenant: Tenant, id) -> Invoice | None:
    return invoice_list(tenant=tenant).filter(pk=id).first()


def payment_list(*, tenant: Tenant) -> QuerySet[Payment]:
    return Payment.objects.for_tenant(tenant).select_related("invoice")


def subscription_of(*, tenant: Tenant) -> Subscription | None:
    return Subscription.objects.for_tenant(tenant).select_related("tenant__plan").first()


def invoice_upcoming(*, subscription: Subscription, now: datetime | None = None) -> dict:
    """The current period so far, computed live from the meter, in the invoice's shape."""
    now = now or timezone.now()
    tenant = subscription.tenant
    plan = tenant.plan
    # Through the end of today: today's calls are already in the meter's rollups.
    until = min(pricing.day_start(now) + timezone.timedelta(days=1), subscription.current_period_end)
    requests = metered_requests(tenant=tenant, start=subscription.current_period_start, end=until)
    lines = pricing.period_lines(
        plan=plan, requests=requests, trial=subscription.status == Subscription.Status.TRIALING
    )
    return {
        "id": None,
        "number": None,
        "status": "upcoming",
        "collection": None,
        "period_start": subscription.current_period_start,
        "period_end": subscription.current_period_end,
        "currency": plan.currency if plan else "eur",
        "lines": [
            {"description": line.description, "quantity": line.quantity, "unit_cents": line.unit_cents,
             "amount_cents": line.amount_cents, "kind": line.kind}
            for line in lines
        ],
        **pricing.totals(lines),
        "finalized_at": None,
        "paid_at": None,
    }


def subscriptions_due(*, now: datetime, delay) -> QuerySet[Subscription]:
    """Live subscriptions whose period ended at least `delay` ago (the meter's last calls of
    the period have been rolled up by then). Index billing_sub_due."""
    return Subscription.objects.exclude(status=Subscription.Status.CANCELED).filter(
        current_period_end__lte=now - delay
    )


def billing_recipients(*, tenant: Tenant) -> list[str]:
    """The addresses of the tenant's active human owners and admins, oldest members first."""
    return list(
        Membership.objects.for_tenant(tenant)
        .filter(role__in=BILLING_RECIPIENT_ROLES, user__status=User.Status.ACTIVE, user__type=User.Type.HUMAN)
        .order_by("joined_at").values_list("user__email", flat=True)
    )


def subscriptions_to_warn(*, now: datetime, grace_days: int, warning_days: int) -> QuerySet[Subscription]:
    """Past-due subscriptions whose suspension is due within `warning_days` and not yet,
    not warned in this dunning episode (index billing_sub_past_due)."""
    suspend_cutoff = now - timezone.timedelta(days=grace_days)
    return Subscription.objects.filter(
        status=Subscription.Status.PAST_DUE, suspended_for_nonpayment=False, suspension_warned_at=None,
        past_due_since__lte=now - timezone.timedelta(days=max(grace_days - warning_days, 0)),
        past_due_since__gt=suspend_cutoff,
    )

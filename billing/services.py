"""Writes of the billing app: subscriptions, the period close and invoice state. Keyword-only,
atomic; Stripe calls happen after commit, in tasks (billing/stripe_sync.py), never inside a
transaction that holds locks.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from billing import pricing
from billing.models import Invoice, InvoiceLine, InvoiceSequence, Payment, Subscription
from billing.selectors import metered_requests, subscriptions_to_warn
from core.audit import audit_record
from tenants import services as tenant_services
from tenants.models import Plan, Tenant

logger = logging.getLogger("groundstation.billing")

INVOICE_SEQUENCE = "invoice"


def stripe_enabled() -> bool:
    return bool(settings.STRIPE_API_KEY)


def _enqueue(task_name: str, *args, robust: bool = False) -> None:
    """Run a billing task after the commit (tasks take ids and reload). `robust` for e-mails:
    a broker that refuses the message is logged and the close or the webhook carries on, since
    the money's state is committed already and must not wait on a notice."""
    from billing import tasks

    task = getattr(tasks, task_name)
    transaction.on_commit(lambda: task.delay(*args), robust=robust)


def _close_delay() -> timedelta:
    return timedelta(minutes=settings.BILLING_CLOSE_DELAY_MINUTES)


# --- Subscriptions ----------------------------------------------------------------------------
def _first_period(*, tenant: Tenant, now: datetime) -> dict:
    start = pricing.day_start(now)
    trial_days = settings.BILLING_TRIAL_DAYS
    if trial_days:
        end = start + timedelta(days=trial_days)
        return {"status": Subscription.Status.TRIALING, "billing_anchor": end, "current_period_start": start,
                "current_period_end": end, "trial_end": end}
    interval = tenant.plan.interval if tenant.plan else Plan.Interval.MONTH
    return {"status": Subscription.Status.ACTIVE, "billing_anchor": start, "current_period_start": start,
            "current_period_end": pricing.period_end_after(anchor=start, start=start, interval=interval),
            "trial_end": None}


def subscription_ensure(*, tenant: Tenant, now: datetime | None = None) -> Subscription:
    """The tenant's subscription, started today (UTC) on its plan if it had none."""
    existing = Subscription.objects.select_related("tenant__plan").filter(tenant=tenant).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            subscription = Subscription.objects.create(tenant=tenant, **_first_period(tenant=tenant,
                                                                                      now=now or timezone.now()))
            audit_record(action="subscription.create", target=subscription, tenant=tenant,
                         changes={"status": subscription.status})
            if stripe_enabled():
                _enqueue("stripe_subscription_sync", str(subscription.pk))
    except IntegrityError:  # a concurrent request created it
        pass
    return Subscription.objects.select_related("tenant__plan").get(tenant=tenant)


@transaction.atomic
def subscription_change_plan(*, tenant: Tenant, plan: Plan, actor=None, now: datetime | None = None) -> Subscription:
    """Put the tenant on `plan` (from the next close on, the period is billed on it) and undo a
    pending cancellation; a cancelled subscription starts a new period today."""
    subscription = Subscription.objects.select_for_update().get(pk=subscription_ensure(tenant=tenant).pk)
    tenant_services.tenant_update(tenant=tenant, plan=plan, actor=actor)
    subscription.tenant.plan = plan
    changes = {}
    if subscription.status == Subscription.Status.CANCELED:
        for field, value in _first_period(tenant=subscription.tenant, now=now or timezone.now()).items():
            setattr(subscription, field, value)
        subscription.canceled_at = None
        changes["status"] = [Subscription.Status.CANCELED, subscription.status]
    if subscription.cancel_at_period_end:
        subscription.cancel_at_period_end = False
        changes["cancel_at_period_end"] = [True, False]
    subscription.save()
    if changes:
        audit_record(action="subscription.update", target=subscription, actor=actor, tenant=tenant, changes=changes)
    if stripe_enabled():
        _enqueue("stripe_subscription_sync", str(subscription.pk))
    return subscription


@transaction.atomic
def subscription_cancel(*, tenant: Tenant, actor=None) -> Subscription:
    """Cancel at the end of the current period (that period is still invoiced)."""
    subscription = Subscription.objects.select_for_update().get(pk=subscription_ensure(tenant=tenant).pk)
    if subscription.status != Subscription.Status.CANCELED and not subscription.cancel_at_period_end:
        subscription.cancel_at_period_end = True
        subscription.save(update_fields=["cancel_at_period_end", "updated_at"])
        audit_record(action="subscription.cancel", target=subscription, actor=actor, tenant=tenant,
                     changes={"cancel_at_period_end": [False, True]})
        if stripe_enabled():
            _enqueue("stripe_subscription_sync", str(subscription.pk))
    return Subscription.objects.select_related("tenant__plan").get(pk=subscription.pk)


def subscriptions_ensure_all(*, now: datetime | None = None) -> int:
    """Live tenants with no subscription yet get one (tenants created before billing, or never
    looked at billing), so every tenant's periods close."""
    created = 0
    for tenant in Tenant.objects.filter(status=Tenant.Status.ACTIVE, subscription__isnull=True).select_related("plan"):
        subscription_ensure(tenant=tenant, now=now)
        created += 1
    return created


# --- The period close -------------------------------------------------------------------------
def _next_invoice_number() -> str:
    """Locks the sequence row until the caller's transaction ends: no gaps, no duplicates."""
    sequence, _ = InvoiceSequence.objects.select_for_update().get_or_create(name=INVOICE_SEQUENCE)
    sequence.last_value += 1
    sequence.save(update_fields=["last_value"])
    return f"{settings.BILLING_INVOICE_PREFIX}-{sequence.last_value:06d}"


def _draft_for_period(*, subscription: Subscription, start: datetime, end: datetime) -> Invoice:
    """The period's invoice: the existing one (a retried close), else a new draft with its lines."""
    existing = Invoice.objects.filter(subscription=subscription, period_start=start).first()
    if existing is not None:
        return existing
    tenant = subscription.tenant
    plan = tenant.plan
    lines = pricing.period_lines(plan=plan, requests=metered_requests(tenant=tenant, start=start, end=end))
    invoice = Invoice.objects.create(
        tenant=tenant, subscription=subscription, period_start=start, period_end=end,
        plan_slug=plan.slug if plan else "", currency=plan.currency if plan else "eur",
        collection=Invoice.Collection.STRIPE if stripe_enabled() else Invoice.Collection.MANUAL,
        **pricing.totals(lines),
    )
    InvoiceLine.objects.bulk_create(
        InvoiceLine(invoice=invoice, position=index, kind=line.kind, description=line.description,
                    quantity=line.quantity, unit_cents=line.unit_cents, amount_cents=line.amount_cents)
        for index, line in enumerate(lines)
    )
    return invoice


def invoice_finalize(*, invoice: Invoice, now: datetime | None = None) -> Invoice:
    """draft → open with the next number (a zero total is paid at once: nothing to collect).
    A conditional update: only a draft moves, exactly once."""
    now = now or timezone.now()
    with transaction.atomic():
        status = Invoice.Status.OPEN if invoice.total_cents else Invoice.Status.PAID
        moved = Invoice.objects.filter(pk=invoice.pk, status=Invoice.Status.DRAFT).update(
            status=status, number=_next_invoice_number(), finalized_at=now,
            paid_at=now if status == Invoice.Status.PAID else None, updated_at=now,
        )
        if moved != 1:  # finalised meanwhile: roll the number back with this savepoint
            transaction.set_rollback(True)
    invoice.refresh_from_db()
    return invoice


def _advance(*, subscription: Subscription, start: datetime, now: datetime) -> None:
    """Start the next period, or end the subscription if it was cancelled at period end.
    Conditional on the period being the one just closed."""
    end = subscription.current_period_end
    current = Subscription.objects.filter(pk=subscription.pk, current_period_start=start).exclude(
        status=Subscription.Status.CANCELED
    )
    if subscription.cancel_at_period_end:
        current.update(status=Subscription.Status.CANCELED, canceled_at=now, updated_at=now)
        return
    fields = {"current_period_start": end, "updated_at": now}
    if subscription.status == Subscription.Status.TRIALING:
        fields["status"] = Subscription.Status.ACTIVE  # the anchor is already the trial's end
    # From the anchor, so a plan whose interval changed bills the next period on the new one.
    interval = subscription.tenant.plan.interval if subscription.tenant.plan else Plan.Interval.MONTH
    fields["current_period_end"] = pricing.period_end_after(
        anchor=subscription.billing_anchor, start=end, interval=interval
    )
    current.update(**fields)


def subscription_close_period(*, subscription_id, now: datetime | None = None) -> Invoice | None:
    """Close the subscription's period if it is due: invoice it (finalised) and start the next.

    Safe to run twice at once (two beats, a retried task): the subscription row is locked for
    the close, the period's invoice is found rather than made again (unique per period), and
    the period advances only from the period just closed.
    """
    now = now or timezone.now()
    with transaction.atomic():
        locked = Subscription.objects.select_for_update(of=("self",)).select_related("tenant__plan")
        subscription = locked.filter(pk=subscription_id).first()
        if (subscription is None or subscription.status == Subscription.Status.CANCELED
                or subscription.current_period_end > now - _close_delay()):
            return None
        start, end = subscription.current_period_start, subscription.current_period_end
        invoice = None
        if subscription.status != Subscription.Status.TRIALING:
            invoice = _draft_for_period(subscription=subscription, start=start, end=end)
            if invoice.is_draft:
                invoice = invoice_finalize(invoice=invoice, now=now)
                audit_record(action="invoice.finalize", target=invoice, tenant=subscription.tenant,
                             changes={"number": invoice.number, "total_cents": invoice.total_cents})
                if invoice.status == Invoice.Status.OPEN:  # a zero total is paid: nothing to tell
                    _enqueue("send_invoice_finalized", str(invoice.pk), robust=True)
                if invoice.collection == Invoice.Collection.STRIPE and invoice.status == Invoice.Status.OPEN:
                    _enqueue("stripe_invoice_push", str(invoice.pk))
        _advance(subscription=subscription, start=start, now=now)
    logger.info("billing period closed", extra={"tenant": subscription.tenant.slug,
                                                "invoice": getattr(invoice, "number", None)})
    return invoice


def periods_close_due(*, now: datetime | None = None) -> int:
    """The beat's close: every due subscription, one period each (a beat that was down for
    longer closes one more period per tick until caught up)."""
    now = now or timezone.now()
    subscriptions_ensure_all(now=now)
    closed = 0
    for subscription_id in Subscription.objects.filter(
        pk__in=_due_ids(now)
    ).values_list("pk", flat=True):
        if subscription_close_period(subscription_id=subscription_id, now=now) is not None:
            closed += 1
    return closed


def _due_ids(now: datetime):
    from billing.selectors import subscriptions_due

    return subscriptions_due(now=now, delay=_close_delay()).values("pk")


# --- Payments and dunning ---------------------------------------------------------------------
@transaction.atomic
def invoice_record_payment(
    *, invoice: Invoice, amount_cents: int, currency: str, stripe_event_id: str | None = None,
    actor=None, now: datetime | None = None,
) -> Payment:
    """A successful payment: the invoice is paid, the subscription current again, and a tenant
    that billing suspended for non-payment is reactivated."""
    now = now or timezone.now()
    payment = Payment.objects.create(
        tenant=invoice.tenant, invoice=invoice, amount_cents=amount_cents, currency=currency,
        status=Payment.Status.SUCCEEDED, stripe_event_id=stripe_event_id,
        created_by=actor if getattr(actor, "pk", None) is not None else None,
    )
    if Invoice.objects.filter(pk=invoice.pk, status__in=[Invoice.Status.OPEN, Invoice.Status.UNCOLLECTIBLE]).update(
        status=Invoice.Status.PAID, paid_at=now, updated_at=now
    ):
        audit_record(action="invoice.paid", target=invoice, actor=actor, tenant=invoice.tenant,
                     changes={"number": invoice.number, "amount_cents": amount_cents})
    subscription = Subscription.objects.select_for_update().get(pk=invoice.subscription_id)
    _recover(subscription=subscription, actor=actor)
    return payment


def _recover(*, subscription: Subscription, actor=None) -> None:
    """Back to active once nothing is overdue; undo billing's own suspension only."""
    if Invoice.objects.filter(subscription=subscription, status=Invoice.Status.OPEN,
                              payments__status=Payment.Status.FAILED).exists():
        return
    if subscription.status == Subscription.Status.PAST_DUE:
        subscription.status = Subscription.Status.ACTIVE
    subscription.past_due_since = None
    subscription.suspension_warned_at = None
    if subscription.suspended_for_nonpayment:
        subscription.suspended_for_nonpayment = False
        tenant_services.tenant_reactivate(tenant=subscription.tenant, actor=actor)
    subscription.save(update_fields=["status", "past_due_since", "suspension_warned_at", "suspended_for_nonpayment",
                                     "updated_at"])


@transaction.atomic
def invoice_record_failure(
    *, invoice: Invoice, amount_cents: int, currency: str, message: str = "",
    stripe_event_id: str | None = None, now: datetime | None = None,
) -> Payment:
    """A failed charge: the subscription is past due from the first failure on (the dunning
    clock, BILLING_GRACE_DAYS, starts then and is not restarted by later failures)."""
    now = now or timezone.now()
    payment = Payment.objects.create(
        tenant=invoice.tenant, invoice=invoice, amount_cents=amount_cents, currency=currency,
        status=Payment.Status.FAILED, stripe_event_id=stripe_event_id, failure_message=message[:500],
    )
    subscription = Subscription.objects.select_for_update().get(pk=invoice.subscription_id)
    if Invoice.objects.filter(pk=invoice.pk, status=Invoice.Status.OPEN).exists() and \
            subscription.status != Subscription.Status.CANCELED:
        changes = {"status": [subscription.status, Subscription.Status.PAST_DUE]}
        subscription.status = Subscription.Status.PAST_DUE
        subscription.past_due_since = subscription.past_due_since or now
        subscription.save(update_fields=["status", "past_due_since", "updated_at"])
        audit_record(action="subscription.past_due", target=subscription, tenant=invoice.tenant, changes=changes)
        _enqueue("send_payment_failed", str(payment.pk), robust=True)
    return payment


def subscriptions_warn_before_suspension(*, now: datetime | None = None) -> int:
    """Dunning's notice: owners and admins of a tenant whose suspension is due within
    BILLING_SUSPENSION_WARNING_DAYS are told once per episode (a conditional update claims it,
    so two beats enqueue one e-mail; the e-mail's key also stops a retried task)."""
    if settings.BILLING_SUSPENSION_WARNING_DAYS <= 0:
        return 0
    now = now or timezone.now()
    due = subscriptions_to_warn(now=now, grace_days=settings.BILLING_GRACE_DAYS,
                                warning_days=settings.BILLING_SUSPENSION_WARNING_DAYS).values_list("pk", flat=True)
    warned = 0
    for subscription_id in due:
        with transaction.atomic():
            if Subscription.objects.filter(pk=subscription_id, suspension_warned_at=None,
                                           status=Subscription.Status.PAST_DUE).update(suspension_warned_at=now):
                _enqueue("send_suspension_warning", str(subscription_id), robust=True)
                warned += 1
    return warned


def subscriptions_suspend_overdue(*, now: datetime | None = None) -> int:
    """Dunning: suspend the tenants whose subscription has been past due longer than the grace."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.BILLING_GRACE_DAYS)
    suspended = 0
    overdue = Subscription.objects.filter(
        status=Subscription.Status.PAST_DUE, past_due_since__lte=cutoff, suspended_for_nonpayment=False
    ).values_list("pk", flat=True)
    for subscription_id in overdue:
        with transaction.atomic():
            locked = Subscription.objects.select_for_update(of=("self",)).select_related("tenant")
            subscription = locked.get(pk=subscription_id)
            if subscription.status != Subscription.Status.PAST_DUE or subscription.suspended_for_nonpayment:
                continue
            if subscription.tenant.status == Tenant.Status.ACTIVE:
                tenant_services.tenant_suspend(tenant=subscription.tenant)
                subscription.suspended_for_nonpayment = True
                subscription.save(update_fields=["suspended_for_nonpayment", "updated_at"])
                suspended += 1
    return suspended

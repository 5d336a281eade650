"""Billing's e-mails to a tenant's owners and admins: invoice finalised, payment failed, and
suspension coming (docs/billing.md#e-mails).

Each runs on a worker (billing/tasks.py, enqueued after the commit that caused it) and goes
through the notifications app, so the templates are the staff-editable ones, the `billing`
preference and the unsubscribe link apply, and every e-mail is logged. Each e-mail has a key
naming what it is about (the invoice, the failed payment, the dunning episode): a retried task,
a replayed webhook or a second beat finds the first send's log row and sends nothing.
"""
from __future__ import annotations

from datetime import timedelta

from django.conf import settings

from billing.models import Invoice, Payment, Subscription
from billing.selectors import billing_recipients
from notifications.services import email_send, public_url
from tenants.models import Tenant


def _money(cents: int, currency: str) -> str:
    return f"{cents / 100:,.2f} {currency.upper()}"


def _invoice_context(invoice: Invoice) -> dict:
    return {
        "tenant_name": invoice.tenant.name,
        "number": invoice.number,
        "total": _money(invoice.total_cents, invoice.currency),
        "period": f"{invoice.period_start:%Y-%m-%d} – {invoice.period_end:%Y-%m-%d}",
        "stripe": invoice.collection == Invoice.Collection.STRIPE,
        "link": public_url(f"api/v1/billing/invoices/{invoice.pk}"),
    }


def _send_all(*, tenant: Tenant, template: str, key: str, context: dict) -> int:
    """One e-mail per recipient; a failure raises after the others were tried, so the task's
    retry sends only to those not done yet (their keyed rows are `sent` or `suppressed`).
    Returns how many went out now."""
    if tenant.status == Tenant.Status.DELETED:
        return 0
    sent, failure = 0, None
    for address in billing_recipients(tenant=tenant):
        try:
            row = email_send(template=template, to=address, context=context, key=key)
            sent += row is not None and row.status == row.Status.SENT
        except OSError as exc:
            failure = exc
    if failure is not None:
        raise failure
    return sent


def invoice_finalized_notify(*, invoice_id) -> int:
    invoice = Invoice.objects.select_related("tenant").filter(pk=invoice_id).first()
    if invoice is None or invoice.number is None:
        return 0
    return _send_all(tenant=invoice.tenant, template="invoice_finalized", key=f"invoice_finalized:{invoice.pk}",
                     context=_invoice_context(invoice))


def payment_failed_notify(*, payment_id) -> int:
    """About one failed charge (each Stripe retry that fails is its own payment and e-mail)."""
    payment = Payment.objects.select_related("invoice__tenant").filter(pk=payment_id,
                                                                         status=Payment.Status.FAILED).first()
    if payment is None or payment.invoice is None or payment.invoice.status != Invoice.Status.OPEN:
        return 0  # paid meanwhile: the failure no longer needs anyone's attention
    context = {**_invoice_context(payment.invoice),
               "total": _money(payment.amount_cents, payment.currency),
               "reason": payment.failure_message or "The payment was declined."}
    return _send_all(tenant=payment.invoice.tenant, template="payment_failed", key=f"payment_failed:{payment.pk}",
                     context=context)


def suspension_date(subscription: Subscription):
    return subscription.past_due_since + timedelta(days=settings.BILLING_GRACE_DAYS)


def suspension_warning_notify(*, subscription_id) -> int:
    """Once per dunning episode (the key carries when it began), while still past due."""
    subscription = Subscription.objects.select_related("tenant").filter(pk=subscription_id).first()
    if (subscription is None or subscription.status != Subscription.Status.PAST_DUE
            or subscription.past_due_since is None or subscription.suspended_for_nonpayment):
        return 0
    invoice = (Invoice.objects.filter(subscription=subscription, status=Invoice.Status.OPEN,
                                      payments__status=Payment.Status.FAILED)
               .select_related("tenant").order_by("period_start").first())
    if invoice is None:
        return 0
    context = {**_invoice_context(invoice), "suspend_on": f"{suspension_date(subscription):%Y-%m-%d %H:%M} UTC"}
    key = f"suspension_warning:{subscription.pk}:{subscription.past_due_since.isoformat()}"
    return _send_all(tenant=subscription.tenant, template="suspension_warning", key=key, context=context)

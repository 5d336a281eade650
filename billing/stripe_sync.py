"""Groundstation → Stripe, through the official `stripe` library (docs/billing.md).

Groundstation computes every invoice itself from its own meter; Stripe collects them:

- the tenant's billing account becomes a Stripe customer (name, address country, tax id);
- the subscription follows the tenant's plan on a zero-amount Stripe plan
  (`gs-<plan slug>-<interval>`), so Stripe shows which plan a tenant is on and its state but
  never charges a fee of its own (no invoice is ever billed twice);
- a finalised invoice is pushed as one invoice item per line plus one Stripe invoice carrying
  `metadata.groundstation_invoice`, then paid (charged); the outcome comes back as webhooks.

Every create carries an idempotency key derived from our ids, so a retried task never makes a
second customer, subscription, item or invoice. Stripe's base URL comes from settings
(operator configuration, never user input), so these calls do not go through core.outbound.
"""
from __future__ import annotations

import logging

import stripe
from django.conf import settings
from django.db import transaction

from billing.models import Invoice, Subscription
from tenants.models import Membership, Plan
from tenants.policy import Role

logger = logging.getLogger("groundstation.billing")

# Our tax number types (tenants/billing.py) → Stripe's tax id types, by country where it matters.
_GST_TYPES = {"AU": "au_abn", "NZ": "nz_gst", "IN": "in_gst", "SG": "sg_gst", "CA": "ca_gst_hst"}
_VAT_TYPES = {"GB": "gb_vat", "CH": "ch_vat", "NO": "no_vat"}


def client() -> stripe.StripeClient:
    base = {"api": settings.STRIPE_API_BASE} if settings.STRIPE_API_BASE else None
    return stripe.StripeClient(settings.STRIPE_API_KEY, base_addresses=base, max_network_retries=2)


def stripe_tax_id(account: dict) -> dict | None:
    kind, number, country = account.get("tax_number_type"), account.get("tax_number"), account.get("country", "")
    if not (kind and number):
        return None
    if kind == "ein":
        return {"type": "us_ein", "value": number}
    if kind == "gst":
        stripe_type = _GST_TYPES.get(country)
        return {"type": stripe_type, "value": number} if stripe_type else None
    if country in _VAT_TYPES:
        return {"type": _VAT_TYPES[country], "value": number}
    # EU VAT numbers carry their country prefix in Stripe.
    prefix = "EL" if country == "GR" else country
    return {"type": "eu_vat", "value": number if number[:2].isalpha() else f"{prefix}{number}"}


def _customer_params(subscription: Subscription) -> dict:
    tenant = subscription.tenant
    account = tenant.billing_account or {}
    owners = Membership.objects.filter(tenant=tenant, role=Role.OWNER).select_related("user")
    owner = owners.order_by("joined_at").first()
    params = {
        "name": account.get("company_name") or tenant.name,
        "metadata": {"groundstation_tenant": str(tenant.pk), "tenant_slug": tenant.slug},
    }
    if owner is not None:
        params["email"] = owner.user.email
    if account.get("country"):
        params["address"] = {"country": account["country"], "line1": account.get("company_address", "")}
    return params


def customer_sync(subscription: Subscription) -> str:
    """Create or update the tenant's Stripe customer; returns its id."""
    api = client()
    params = _customer_params(subscription)
    tax_id = stripe_tax_id(subscription.tenant.billing_account or {})
    if not subscription.stripe_customer_id:
        create = {**params, "tax_id_data": [tax_id] if tax_id else []}
        customer = api.v1.customers.create(create, {"idempotency_key": f"gs-customer-{subscription.pk}"})
        Subscription.objects.filter(pk=subscription.pk).update(stripe_customer_id=customer.id)
        subscription.stripe_customer_id = customer.id
        return customer.id
    customer_id = subscription.stripe_customer_id
    api.v1.customers.update(customer_id, params)
    existing = api.v1.customers.tax_ids.list(customer_id).data
    if not any(tax_id and item.value == tax_id["value"] for item in existing):
        for item in existing:
            api.v1.customers.tax_ids.delete(customer_id, item.id)
        if tax_id:
            api.v1.customers.tax_ids.create(customer_id, tax_id)
    return customer_id


def plan_id_for(plan: Plan | None) -> str:
    if plan is None:
        return "gs-none-month"
    return plan.stripe_price_id or f"gs-{plan.slug}-{plan.interval}"


def _ensure_plan(api: stripe.StripeClient, plan: Plan | None) -> str:
    plan_id = plan_id_for(plan)
    try:
        api.v1.plans.retrieve(plan_id)
    except stripe.InvalidRequestError:
        api.v1.plans.create(
            {"id": plan_id, "amount": 0, "currency": plan.currency if plan else "eur",
             "interval": plan.interval if plan else "month",
             "product": {"name": f"Groundstation {plan.name if plan else 'no plan'}"},
             "nickname": "Fees are billed by Groundstation's own invoices"},
            {"idempotency_key": f"gs-plan-{plan_id}"},
        )
    return plan_id


def subscription_sync(subscription_id) -> Subscription:
    """Make the Stripe subscription match ours: created, on the tenant's plan, cancelled."""
    subscription = Subscription.objects.select_related("tenant__plan").get(pk=subscription_id)
    api = client()
    customer_id = customer_sync(subscription)
    if subscription.status == Subscription.Status.CANCELED:
        if subscription.stripe_subscription_id:
            api.v1.subscriptions.cancel(subscription.stripe_subscription_id)
        return subscription
    plan_id = _ensure_plan(api, subscription.tenant.plan)
    metadata = {"groundstation_subscription": str(subscription.pk)}
    if not subscription.stripe_subscription_id:
        created = api.v1.subscriptions.create(
            {"customer": customer_id, "items": [{"plan": plan_id}], "metadata": metadata},
            {"idempotency_key": f"gs-subscription-{subscription.pk}"},
        )
        fields = {"stripe_subscription_id": created.id, "stripe_plan_id": plan_id}
    else:
        remote = api.v1.subscriptions.retrieve(subscription.stripe_subscription_id)
        update = {"cancel_at_period_end": subscription.cancel_at_period_end}
        if subscription.stripe_plan_id != plan_id:
            # Zero-amount plans: there is nothing to prorate, so Stripe's default is harmless.
            update["items"] = [{"id": remote["items"].data[0].id, "plan": plan_id}]
        api.v1.subscriptions.update(subscription.stripe_subscription_id, update)
        fields = {"stripe_plan_id": plan_id}
    Subscription.objects.filter(pk=subscription.pk).update(**fields)
    subscription.refresh_from_db()
    return subscription


def invoice_push(invoice_id) -> Invoice:
    """Push a finalised invoice (items, invoice, charge). Idempotent: an invoice already in
    Stripe is left alone, and the creates carry keys derived from our ids."""
    invoice = Invoice.objects.select_related("subscription__tenant__plan").get(pk=invoice_id)
    if invoice.stripe_invoice_id or invoice.status != Invoice.Status.OPEN:
        return invoice
    api = client()
    subscription = invoice.subscription
    customer_id = subscription.stripe_customer_id or customer_sync(subscription)
    metadata = {"groundstation_invoice": str(invoice.pk), "number": invoice.number}
    for line in invoice.lines.all():
        if not line.amount_cents:
            continue
        api.v1.invoice_items.create(
            {"customer": customer_id, "amount": line.amount_cents, "currency": invoice.currency,
             "description": f"{line.description} × {line.quantity}", "metadata": metadata},
            {"idempotency_key": f"gs-line-{invoice.pk}-{line.position}"},
        )
    remote = api.v1.invoices.create(
        {"customer": customer_id, "description": f"Groundstation invoice {invoice.number}", "metadata": metadata},
        {"idempotency_key": f"gs-invoice-{invoice.pk}"},
    )
    with transaction.atomic():
        Invoice.objects.filter(pk=invoice.pk, stripe_invoice_id=None).update(stripe_invoice_id=remote.id)
    try:
        api.v1.invoices.pay(remote.id)
    except stripe.StripeError as exc:  # declined: Stripe reports it as invoice.payment_failed
        logger.info("stripe charge refused", extra={"invoice": invoice.number, "stripe_error": type(exc).__name__})
    invoice.refresh_from_db()
    return invoice

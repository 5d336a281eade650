"""Stripe kept in step through the official `stripe` library, against a real localstripe server
started on a free loopback port (no mock): customer and subscription from a tenant, a plan
change, a finalised invoice pushed and charged, and Stripe's own invoice coming back signed."""
import socket
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from billing import services, stripe_sync, webhooks
from billing.models import Invoice, Subscription, WebhookEvent
from tests.billing.conftest import priced_plan
from tests.billing.signing import SECRET, post_event

pytestmark = pytest.mark.django_db


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def localstripe_url():
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "localstripe", "--port", str(port), "--from-scratch"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        process.kill()
        pytest.fail("localstripe did not start")
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def stripe_on(settings, localstripe_url):
    settings.STRIPE_API_KEY = "sk_test_groundstation"
    settings.STRIPE_API_BASE = localstripe_url
    settings.STRIPE_WEBHOOK_SECRET = SECRET
    return stripe_sync.client()


def _with_card(api, customer_id: str) -> None:
    """What a customer does in Stripe's own checkout: a card, made the default."""
    method = api.v1.payment_methods.create({"type": "card", "card": {
        "number": "4242424242424242", "exp_month": 12, "exp_year": 2035, "cvc": "123"}})
    api.v1.payment_methods.attach(method.id, {"customer": customer_id})
    api.v1.customers.update(customer_id, {"invoice_settings": {"default_payment_method": method.id}})


def test_the_customer_and_subscription_follow_the_tenant(stripe_on, billed_tenant, owner):
    billed_tenant.billing_account = {"company_name": "Acme GmbH", "company_address": "Hauptstr. 1",
                                     "country": "DE", "tax_number_type": "vat", "tax_number": "DE123456789"}
    billed_tenant.save(update_fields=["billing_account"])
    subscription = services.subscription_ensure(tenant=billed_tenant)
    subscription = stripe_sync.subscription_sync(subscription.pk)

    customer = stripe_on.v1.customers.retrieve(subscription.stripe_customer_id)
    assert (customer.name, customer.email, customer.metadata["tenant_slug"]) == (
        "Acme GmbH", owner.email, billed_tenant.slug)
    assert [tax.value for tax in stripe_on.v1.customers.tax_ids.list(customer.id).data] == ["DE123456789"]
    remote = stripe_on.v1.subscriptions.retrieve(subscription.stripe_subscription_id)
    assert remote["items"].data[0].plan.id == "gs-pro-month" and remote["items"].data[0].plan.amount == 0

    services.subscription_change_plan(tenant=billed_tenant, plan=priced_plan(slug="business", interval="year"))
    subscription = stripe_sync.subscription_sync(subscription.pk)
    remote = stripe_on.v1.subscriptions.retrieve(subscription.stripe_subscription_id)
    assert remote["items"].data[0].plan.id == "gs-business-year"
    assert stripe_sync.subscription_sync(subscription.pk).stripe_customer_id == customer.id  # no second one


def test_a_finalised_invoice_is_pushed_charged_and_paid_by_the_webhook(stripe_on, billed_tenant):
    subscription = services.subscription_ensure(tenant=billed_tenant, now=timezone.now() - timedelta(days=40))
    subscription = stripe_sync.subscription_sync(subscription.pk)
    _with_card(stripe_on, subscription.stripe_customer_id)
    invoice = services.subscription_close_period(subscription_id=subscription.pk)
    assert (invoice.collection, invoice.status) == ("stripe", "open")

    invoice = stripe_sync.invoice_push(invoice.pk)
    assert stripe_sync.invoice_push(invoice.pk).stripe_invoice_id == invoice.stripe_invoice_id  # a retry
    remote = stripe_on.v1.invoices.retrieve(invoice.stripe_invoice_id)
    assert remote.total == invoice.total_cents == 2900
    # (localstripe drops an invoice's metadata on create; the webhook matches by the stored id.)
    assert remote.status == "paid"

    # Stripe's own invoice object, as its webhook carries it, signed with our secret.
    event = {"id": "evt_ls_paid", "object": "event", "type": "invoice.payment_succeeded",
             "created": int(time.time()), "data": {"object": remote.to_dict()}}
    assert post_event(APIClient(raise_request_exception=False), event).status_code == 200
    stored = WebhookEvent.objects.values_list("pk", flat=True)
    assert [webhooks.webhook_process(event_pk=pk) for pk in stored] == ["processed"]
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    assert invoice.payments.get().amount_cents == 2900


def test_cancelling_reaches_stripe_at_period_end(stripe_on, billed_tenant):
    subscription = stripe_sync.subscription_sync(services.subscription_ensure(tenant=billed_tenant).pk)
    services.subscription_cancel(tenant=billed_tenant)
    stripe_sync.subscription_sync(subscription.pk)
    remote = stripe_on.v1.subscriptions.retrieve(subscription.stripe_subscription_id)
    assert remote.cancel_at_period_end is True
    assert Subscription.objects.get(pk=subscription.pk).cancel_at_period_end

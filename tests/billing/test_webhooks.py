"""Stripe webhooks: verified (bad signature → 400, nothing stored), stored once (a replay is 2xx
and changes nothing), processed on a worker, never a 500; dunning to suspension and back."""
import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from billing import services, webhooks
from billing.models import Invoice, Payment, Subscription, WebhookEvent
from tests.billing.signing import SECRET, post_event, signed

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _secret(settings):
    settings.STRIPE_WEBHOOK_SECRET = SECRET


@pytest.fixture
def client():
    return APIClient(raise_request_exception=False)


@pytest.fixture
def invoice(billed_tenant) -> Invoice:
    subscription = services.subscription_ensure(tenant=billed_tenant, now=timezone.now() - timedelta(days=40))
    invoice = services.subscription_close_period(subscription_id=subscription.pk)
    Invoice.objects.filter(pk=invoice.pk).update(stripe_invoice_id="in_test_1")
    invoice.refresh_from_db()
    return invoice


def _event(kind: str, obj: dict, event_id: str = "evt_1") -> dict:
    return {"id": event_id, "object": "event", "type": kind, "created": int(time.time()),
            "data": {"object": obj}, "livemode": False, "api_version": "2024-06-20"}


def _paid(invoice, event_id="evt_paid", kind="invoice.payment_succeeded") -> dict:
    return _event(kind, {"id": invoice.stripe_invoice_id, "object": "invoice", "amount_paid": invoice.total_cents,
                         "currency": invoice.currency, "status": "paid"}, event_id)


def _failed(invoice, event_id="evt_failed") -> dict:
    return _event("invoice.payment_failed", {"id": invoice.stripe_invoice_id, "object": "invoice",
                                             "amount_due": invoice.total_cents, "currency": invoice.currency,
                                             "last_payment_error": {"message": "Your card was declined."}},
                  event_id)


def _process_all() -> list[str]:
    """What the worker does with each stored event (the task calls exactly this)."""
    stored = WebhookEvent.objects.order_by("pk").values_list("pk", flat=True)
    return [webhooks.webhook_process(event_pk=pk) for pk in stored]


def test_a_bad_signature_is_400_and_stores_nothing(client, invoice):
    payload, header = signed(_paid(invoice), secret="whsec_someone_else")
    response = client.post("/api/v1/billing/webhooks/stripe", payload, content_type="application/json",
                           HTTP_STRIPE_SIGNATURE=header)
    assert response.status_code == 400 and response.json()["error"]["code"] == "VALIDATION_ERROR"
    unsigned = client.post("/api/v1/billing/webhooks/stripe", payload, content_type="application/json")
    assert unsigned.status_code == 400
    tampered_payload, header = signed(_paid(invoice))
    tampered = client.post("/api/v1/billing/webhooks/stripe", tampered_payload.replace(b"paid", b"open"),
                           content_type="application/json", HTTP_STRIPE_SIGNATURE=header)
    assert tampered.status_code == 400
    assert not WebhookEvent.objects.exists()


def test_an_event_older_than_the_tolerance_is_refused(client, invoice):
    response = post_event(client, _paid(invoice), at=time.time() - 3600)
    assert response.status_code == 400 and not WebhookEvent.objects.exists()


@pytest.mark.parametrize("payload", [
    b"", b"not json", b"[1, 2]", b'{"id": 5}', json.dumps({"type": "x"}).encode(),
    b"[" * 100_000 + b"]" * 100_000,  # deeper than the parser's recursion limit
], ids=["empty", "not-json", "list", "id-not-str", "no-id", "deeply-nested"])
def test_garbage_correctly_signed_is_400_never_500(client, payload):
    timestamp = int(time.time())
    from stripe import WebhookSignature

    header = f"t={timestamp},v1={WebhookSignature._compute_signature(f'{timestamp}.{payload.decode()}', SECRET)}"
    response = client.post("/api/v1/billing/webhooks/stripe", payload, content_type="application/json",
                           HTTP_STRIPE_SIGNATURE=header)
    assert response.status_code == 400, response.content
    assert not WebhookEvent.objects.exists()


def test_a_payment_marks_the_invoice_paid_once_however_often_it_is_replayed(client, invoice):
    first = post_event(client, _paid(invoice))
    assert first.status_code == 200 and first.json() == {"received": True, "duplicate": False}
    assert Payment.objects.count() == 0  # processing is the worker's
    assert _process_all() == ["processed"]
    replay = post_event(client, _paid(invoice))
    assert replay.status_code == 200 and replay.json()["duplicate"] is True
    assert _process_all() == ["skipped"]
    assert WebhookEvent.objects.count() == 1
    invoice.refresh_from_db()
    assert invoice.status == "paid" and invoice.paid_at is not None
    payment = Payment.objects.get()
    assert (payment.amount_cents, payment.status, payment.invoice_id) == (invoice.total_cents, "succeeded", invoice.pk)


def test_reprocessing_an_event_records_its_payment_once(client, invoice):
    post_event(client, _paid(invoice))
    _process_all()
    event = WebhookEvent.objects.get()
    assert webhooks.webhook_process(event_pk=event.pk, force=True) == "processed"
    assert Payment.objects.count() == 1


def test_a_failure_reported_after_the_payment_changes_nothing(client, invoice):
    post_event(client, _paid(invoice, event_id="evt_a"))
    post_event(client, _failed(invoice, event_id="evt_b"))  # out of order: the older failure arrives last
    _process_all()
    invoice.refresh_from_db()
    subscription = Subscription.objects.get()
    assert invoice.status == "paid" and subscription.status == "active"


@pytest.mark.parametrize("kind,obj", [
    ("customer.deleted", {"id": "cus_unknown", "object": "customer", "deleted": True}),
    ("invoice.payment_succeeded", {"id": "in_unknown", "object": "invoice", "amount_paid": 5}),
    ("invoice.payment_failed", {"id": "in_x", "metadata": {"groundstation_invoice": "not-a-uuid"}}),
    ("charge.dispute.created", {"id": "dp_1"}),
    ("invoice.paid", {}),
    ("customer.subscription.deleted", {"id": 12}),
])
def test_events_about_unknown_things_are_acknowledged_and_ignored(client, kind, obj):
    event = _event(kind, obj)
    response = post_event(client, event)
    assert response.status_code == 200
    assert _process_all() == ["ignored"]
    assert WebhookEvent.objects.get().payload == event


def test_a_malformed_event_body_is_stored_and_ignored_not_failed(client):
    event = {"id": "evt_odd", "object": "event", "type": "invoice.paid", "data": "not an object"}
    assert post_event(client, event).status_code == 200
    assert _process_all() == ["ignored"]


def test_dunning_past_due_then_suspended_after_the_grace_then_reactivated_on_payment(
    client, invoice, billed_tenant, settings, owner
):
    settings.BILLING_GRACE_DAYS = 3
    post_event(client, _failed(invoice, event_id="evt_f1"))
    _process_all()
    subscription = Subscription.objects.get()
    assert subscription.status == "past_due" and subscription.past_due_since is not None
    failed_at = subscription.past_due_since
    post_event(client, _failed(invoice, event_id="evt_f2"))  # a retry fails too: the clock keeps running
    _process_all()
    subscription.refresh_from_db()
    assert subscription.past_due_since == failed_at
    assert Payment.objects.filter(status="failed").count() == 2

    assert services.subscriptions_suspend_overdue(now=failed_at + timedelta(days=2)) == 0
    assert services.subscriptions_suspend_overdue(now=failed_at + timedelta(days=3, minutes=1)) == 1
    billed_tenant.refresh_from_db()
    assert billed_tenant.status == "suspended"
    from tests.conftest import bearer_client

    assert bearer_client(owner, billed_tenant).get("/api/v1/billing/invoices").status_code == 403

    post_event(client, _paid(invoice, event_id="evt_ok"))
    _process_all()
    billed_tenant.refresh_from_db()
    subscription.refresh_from_db()
    assert billed_tenant.status == "active"
    assert (subscription.status, subscription.past_due_since, subscription.suspended_for_nonpayment) == (
        "active", None, False)


def test_a_tenant_staff_suspended_is_not_reactivated_by_a_payment(client, invoice, billed_tenant):
    from tenants import services as tenant_services

    tenant_services.tenant_suspend(tenant=billed_tenant)
    post_event(client, _paid(invoice))
    _process_all()
    billed_tenant.refresh_from_db()
    assert billed_tenant.status == "suspended"


def test_the_retry_beat_processes_events_whose_task_was_lost(client, invoice):
    post_event(client, _paid(invoice))
    WebhookEvent.objects.update(received_at=timezone.now() - timedelta(minutes=5))
    assert webhooks.webhooks_retry() == 1
    assert Invoice.objects.get(pk=invoice.pk).status == "paid"


def test_an_invoice_is_found_by_the_metadata_it_was_pushed_with(client, invoice):
    Invoice.objects.filter(pk=invoice.pk).update(stripe_invoice_id=None)  # the push's id was not stored
    event = _event("invoice.paid", {"id": "in_other", "amount_paid": invoice.total_cents, "currency": "eur",
                                    "metadata": {"groundstation_invoice": str(invoice.pk)}}, "evt_meta")
    post_event(client, event)
    assert _process_all() == ["processed"]
    assert Invoice.objects.get(pk=invoice.pk).status == "paid"

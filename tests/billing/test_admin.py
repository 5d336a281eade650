"""The operators' billing pages: subscriptions (close now), invoices with their lines read-only
and a printable page, mark paid, payments, and webhook events (payload read-only, reprocess)."""
import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from billing import services, webhooks
from billing.models import Invoice, InvoiceLine, Payment, Subscription, WebhookEvent
from tests.billing.conftest import meter_calls
from tests.console.factories import StaffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def invoice(billed_tenant) -> Invoice:
    billed_tenant.billing_account = {"company_name": "Acme <b>GmbH</b>", "company_address": "Hauptstr. 1\n10115 Berlin",
                                     "country": "DE", "tax_number_type": "vat", "tax_number": "DE123456789"}
    billed_tenant.save(update_fields=["billing_account"])
    subscription = services.subscription_ensure(tenant=billed_tenant, now=timezone.now() - timedelta(days=40))
    meter_calls(billed_tenant, subscription.current_period_start + timedelta(hours=1), 1500)
    return services.subscription_close_period(subscription_id=subscription.pk)


def test_the_invoice_page_shows_its_lines_read_only_and_nobody_deletes_it(admin_site_client, invoice):
    page = admin_site_client.get(f"/admin/billing/invoice/{invoice.pk}/change/").content.decode()
    assert "Pro plan, 1 month" in page and "API requests (1,000 included; 50 per 1,000 beyond)" in page
    assert 'name="lines-0-description"' not in page  # the inline has no inputs
    assert admin_site_client.post(f"/admin/billing/invoice/{invoice.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Invoice.objects.filter(pk=invoice.pk).exists()


def test_the_printable_invoice_has_the_number_account_lines_and_totals_escaped(admin_site_client, invoice):
    response = admin_site_client.get(f"/admin/billing/invoice/{invoice.pk}/print/")
    assert response.status_code == 200
    page = response.content.decode()
    assert f"<h1>Invoice {invoice.number}</h1>" in page
    assert "Acme &lt;b&gt;GmbH&lt;/b&gt;" in page and "<b>GmbH</b>" not in page
    assert "Hauptstr. 1<br>10115 Berlin" in page and "VAT DE123456789" in page
    usage = InvoiceLine.objects.get(invoice=invoice, kind="usage")
    assert usage.quantity == 1500 and f"<td class=\"n\">{usage.quantity}</td>" in page
    assert f"<strong>{invoice.total_cents}</strong>" in page and invoice.total_cents == 2900 + 25
    missing = "/admin/billing/invoice/00000000-0000-0000-0000-000000000000/print/"
    assert admin_site_client.get(missing).status_code == 404


def test_staff_without_the_view_permission_get_no_printable_invoice(client, invoice):
    staff = StaffFactory()
    client.force_login(staff)
    assert client.get(f"/admin/billing/invoice/{invoice.pk}/print/").status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_invoice"))
    assert client.get(f"/admin/billing/invoice/{invoice.pk}/print/").status_code == 200


def test_mark_paid_records_a_manual_payment_and_names_what_it_left_alone(admin_site_client, invoice, billed_tenant):
    response = admin_site_client.post("/admin/billing/invoice/", {"action": "mark_paid",
                                                                  "_selected_action": [invoice.pk]}, follow=True)
    assert "Marked 1 of 1 invoices paid." in response.content.decode()
    invoice.refresh_from_db()
    payment = Payment.objects.get()
    assert invoice.status == "paid" and (payment.amount_cents, payment.created_by.email) == (2925, "root@example.com")

    again = admin_site_client.post("/admin/billing/invoice/", {"action": "mark_paid",
                                                               "_selected_action": [invoice.pk]}, follow=True)
    assert f"{invoice.number} (paid)" in again.content.decode() and Payment.objects.count() == 1
    payments = admin_site_client.get("/admin/billing/payment/").content.decode()
    assert "29.25 EUR" in payments and billed_tenant.slug in payments


def test_close_now_closes_only_an_ended_period(admin_site_client, billed_tenant):
    subscription = services.subscription_ensure(tenant=billed_tenant)
    url = "/admin/billing/subscription/"
    response = admin_site_client.post(url, {"action": "close_due_period", "_selected_action": [subscription.pk]},
                                      follow=True)
    assert "Closed 0 of 1 periods." in response.content.decode() and not Invoice.objects.exists()
    Subscription.objects.filter(pk=subscription.pk).update(current_period_end=timezone.now() - timedelta(hours=1))
    response = admin_site_client.post(url, {"action": "close_due_period", "_selected_action": [subscription.pk]},
                                      follow=True)
    assert "Closed 1 of 1 periods." in response.content.decode() and Invoice.objects.count() == 1
    assert admin_site_client.get(url).status_code == 200


def _stored(event_id: str, obj: dict, kind: str = "invoice.payment_succeeded") -> WebhookEvent:
    return WebhookEvent.objects.create(stripe_id=event_id, type=kind, payload={
        "id": event_id, "object": "event", "type": kind, "created": int(time.time()), "data": {"object": obj}})


def test_a_webhook_events_payload_is_shown_escaped_and_cannot_be_edited(admin_site_client):
    event = _stored("evt_admin_1", {"id": "in_x", "note": "<script>alert(1)</script>"})
    url = f"/admin/billing/webhookevent/{event.pk}/change/"
    page = admin_site_client.get(url).content.decode()
    assert "&quot;note&quot;: &quot;&lt;script&gt;alert(1)&lt;/script&gt;&quot;" in page
    assert "<script>alert(1)" not in page
    assert 'name="payload"' not in page
    admin_site_client.post(url, {"payload": "{}", "status": "processed"})
    event.refresh_from_db()
    assert event.payload["data"]["object"]["id"] == "in_x" and event.status == "pending"
    assert admin_site_client.post("/admin/billing/webhookevent/add/", {}).status_code == 403


def test_reprocess_acts_on_a_pending_event_and_again_changes_nothing(admin_site_client, invoice):
    Invoice.objects.filter(pk=invoice.pk).update(stripe_invoice_id="in_admin")
    event = _stored("evt_admin_paid", {"id": "in_admin", "object": "invoice", "amount_paid": 2925, "currency": "eur"})
    unknown = _stored("evt_admin_other", {"id": "in_nobody"})
    selected = {"action": "reprocess", "_selected_action": [event.pk, unknown.pk]}

    response = admin_site_client.post("/admin/billing/webhookevent/", selected, follow=True)
    assert "Reprocessed: 1 ignored, 1 processed." in response.content.decode()
    assert Invoice.objects.get(pk=invoice.pk).status == "paid" and Payment.objects.count() == 1

    admin_site_client.post("/admin/billing/webhookevent/", selected, follow=True)
    assert Payment.objects.count() == 1
    assert WebhookEvent.objects.get(pk=event.pk).attempts == 2
    assert webhooks.webhook_process(event_pk=event.pk) == "skipped"  # a processed event is not claimed again


def test_staff_who_may_only_view_cannot_reprocess(client, invoice):
    staff = StaffFactory()
    staff.user_permissions.add(Permission.objects.get(codename="view_webhookevent"))
    client.force_login(staff)
    event = _stored("evt_view_only", {"id": "in_nobody"})
    assert client.get("/admin/billing/webhookevent/").status_code == 200
    client.post("/admin/billing/webhookevent/", {"action": "reprocess", "_selected_action": [event.pk]})
    assert WebhookEvent.objects.get(pk=event.pk).attempts == 0

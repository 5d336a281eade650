"""Billing's e-mails: invoice finalised, payment failed, suspension coming — to the tenant's
owners and admins only, through the notifications app (templates, `billing` preference,
one-click unsubscribe, the log), once per invoice / failed payment / dunning episode however
often the task, the webhook or the beat repeats."""
import time
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from billing import notices, services, tasks, webhooks
from billing.models import Invoice, Payment, Subscription, WebhookEvent
from notifications import selectors as notification_selectors
from notifications import services as notification_services
from notifications.models import EmailNotification
from tenants.policy import Role
from tests.accounts.conftest import wait_for_mail
from tests.billing.signing import SECRET, post_event


@pytest.fixture(autouse=True)
def _secret(settings):
    settings.STRIPE_WEBHOOK_SECRET = SECRET


@pytest.fixture
def cast(billed_tenant, make_member, other_tenant):
    """Everyone a billing e-mail might reach: the two who should, three who should not, and
    the owner of another tenant."""
    return {role: make_member(billed_tenant, role, email=f"{role}@acme.example") for role in Role} | {
        "outsider": make_member(other_tenant, Role.OWNER, email="owner@elsewhere.example")}


def _close_a_period(tenant) -> Invoice:
    subscription = services.subscription_ensure(tenant=tenant, now=timezone.now() - timedelta(days=40))
    return services.subscription_close_period(subscription_id=subscription.pk)


def _failed(invoice, event_id: str) -> dict:
    return {"id": event_id, "object": "event", "type": "invoice.payment_failed", "created": int(time.time()),
            "api_version": "2024-06-20", "livemode": False,
            "data": {"object": {"id": invoice.stripe_invoice_id, "object": "invoice", "currency": invoice.currency,
                                "amount_due": invoice.total_cents,
                                "last_payment_error": {"message": "Your card was declined."}}}}


def _to(messages) -> list[str]:
    return sorted(address for message in messages for address in message.to)


def test_a_finalised_invoice_mails_its_owners_and_admins_and_nobody_else(outbox, billed_tenant, cast):
    invoice = _close_a_period(billed_tenant)

    assert invoice.status == "open"
    assert _to(outbox) == ["admin@acme.example", "owner@acme.example"]
    message = outbox[0]
    assert message.subject == f"Invoice {invoice.number} for {billed_tenant.name}: 29.00 EUR"
    assert invoice.number in message.body and "bank transfer" in message.body
    assert f"/api/v1/billing/invoices/{invoice.pk}" in message.body
    rows = EmailNotification.objects.filter(template="invoice_finalized")
    assert {(row.to, row.status, row.category, row.key) for row in rows} == {
        (address, "sent", "billing", f"invoice_finalized:{invoice.pk}")
        for address in ("owner@acme.example", "admin@acme.example")}


def test_a_second_beat_or_a_retried_task_sends_the_invoice_mail_no_second_time(outbox, billed_tenant, cast):
    invoice = _close_a_period(billed_tenant)
    assert len(outbox) == 2

    assert services.subscription_close_period(subscription_id=invoice.subscription_id) is None  # second beat
    assert tasks.send_invoice_finalized.delay(str(invoice.pk)).get() == 0  # the task again, e.g. a retry
    assert notices.invoice_finalized_notify(invoice_id=invoice.pk) == 0

    assert len(outbox) == 2 and EmailNotification.objects.count() == 2


def test_a_zero_total_invoice_is_paid_at_once_and_mails_nobody(outbox, billed_tenant, cast, plan):
    plan.price_cents = 0
    plan.save()
    assert _close_a_period(billed_tenant).status == "paid"
    assert outbox == []


def test_the_billing_preference_stops_the_mail_and_the_log_says_suppressed(outbox, billed_tenant, cast):
    notification_services.notification_preferences_update(user=cast[Role.OWNER], billing=False)

    _close_a_period(billed_tenant)

    assert _to(outbox) == ["admin@acme.example"]
    assert EmailNotification.objects.get(to="owner@acme.example").status == "suppressed"


def test_the_billing_mails_one_click_unsubscribe_stops_the_next_one(outbox, billed_tenant, cast):
    invoice = _close_a_period(billed_tenant)
    [to_owner] = [message for message in outbox if message.to == ["owner@acme.example"]]
    assert to_owner.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = to_owner.extra_headers["List-Unsubscribe"].strip("<>")
    assert link in to_owner.body and link in to_owner.alternatives[0][0]

    # What a mail client does with the header: a POST, no session, no CSRF token.
    response = Client(enforce_csrf_checks=True).post(link.removeprefix("http://testserver"),
                                                     "List-Unsubscribe=One-Click",
                                                     content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    assert not notification_selectors.wants_email(address="owner@acme.example", category="billing")
    assert notification_selectors.wants_email(address="owner@acme.example", category="incidents")

    outbox.clear()
    Invoice.objects.filter(pk=invoice.pk).update(stripe_invoice_id="in_unsub")
    invoice.refresh_from_db()
    services.invoice_record_failure(invoice=invoice, amount_cents=invoice.total_cents, currency="eur",
                                    message="Your card was declined.")
    assert _to(outbox) == ["admin@acme.example"]
    assert EmailNotification.objects.get(template="payment_failed", to="owner@acme.example").status == "suppressed"


@pytest.mark.worker
def test_a_failed_payment_is_mailed_once_by_the_worker_however_often_the_webhook_is_replayed(
    live_worker, billed_tenant, cast, api_client
):
    mail.outbox = []
    invoice = _close_a_period(billed_tenant)
    Invoice.objects.filter(pk=invoice.pk).update(stripe_invoice_id="in_live_1")
    invoice.refresh_from_db()
    wait_for_mail(2)  # the worker's invoice-finalised mails

    event = _failed(invoice, "evt_live_failed")
    assert post_event(api_client, event).json()["duplicate"] is False
    assert post_event(api_client, event).json()["duplicate"] is True  # Stripe's replay

    failed = wait_for_mail(4)
    assert _to(m for m in failed if "payment" in m.subject.lower()) == ["admin@acme.example", "owner@acme.example"]
    [to_owner] = [m for m in failed if m.to == ["owner@acme.example"] and "payment" in m.subject.lower()]
    assert "Your card was declined." in to_owner.body and invoice.number in to_owner.body

    # The operator's "reprocess" runs the event again: its payment exists, nobody is mailed.
    event_pk = WebhookEvent.objects.get(stripe_id="evt_live_failed").pk
    assert webhooks.webhook_process(event_pk=event_pk, force=True) == "processed"
    tasks.send_payment_failed.delay(str(Payment.objects.get(status="failed").pk))  # and a stray retry
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:  # give a wrong second send the time to arrive
        time.sleep(0.1)
    assert len(mail.outbox) == 4
    assert EmailNotification.objects.filter(template="payment_failed", status="sent").count() == 2
    assert Payment.objects.filter(status="failed").count() == 1


@pytest.fixture
def past_due(outbox, billed_tenant, cast, settings):
    """A subscription past due since `failed_at`, its invoice's charge failed; the outbox emptied."""
    settings.BILLING_GRACE_DAYS, settings.BILLING_SUSPENSION_WARNING_DAYS = 14, 3
    invoice = _close_a_period(billed_tenant)
    services.invoice_record_failure(invoice=invoice, amount_cents=invoice.total_cents, currency="eur",
                                    message="Insufficient funds.")
    outbox.clear()
    return Subscription.objects.get(), invoice


def test_the_suspension_warning_goes_out_once_three_days_before_the_grace_ends(past_due, outbox, billed_tenant):
    subscription, invoice = past_due
    failed_at = subscription.past_due_since

    assert services.subscriptions_warn_before_suspension(now=failed_at + timedelta(days=10, hours=23)) == 0
    assert outbox == []
    assert services.subscriptions_warn_before_suspension(now=failed_at + timedelta(days=11, minutes=1)) == 1
    assert _to(outbox) == ["admin@acme.example", "owner@acme.example"]
    suspend_on = failed_at + timedelta(days=14)
    assert outbox[0].subject == f"{billed_tenant.name} will be suspended on {suspend_on:%Y-%m-%d %H:%M} UTC"
    assert invoice.number in outbox[0].body

    # The hourly beat again (and again); then the suspension itself sends nothing more.
    assert services.subscriptions_warn_before_suspension(now=failed_at + timedelta(days=12)) == 0
    assert tasks.send_suspension_warning.delay(str(subscription.pk)).get() == 0
    assert services.subscriptions_suspend_overdue(now=failed_at + timedelta(days=14, minutes=1)) == 1
    assert len(outbox) == 2


def test_a_new_dunning_episode_is_warned_again_and_a_paid_one_not_at_all(past_due, outbox):
    subscription, invoice = past_due
    first = subscription.past_due_since
    services.subscriptions_warn_before_suspension(now=first + timedelta(days=12))
    assert len(outbox) == 2
    services.invoice_record_payment(invoice=invoice, amount_cents=invoice.total_cents, currency="eur")
    subscription.refresh_from_db()
    assert (subscription.status, subscription.suspension_warned_at) == ("active", None)
    assert services.subscriptions_warn_before_suspension(now=first + timedelta(days=13)) == 0

    # The next period's charge fails: a new episode, its own warning.
    later = _close_a_period_again(subscription, now=first + timedelta(days=40))
    services.invoice_record_failure(invoice=later, amount_cents=later.total_cents, currency="eur",
                                    now=first + timedelta(days=41))
    outbox.clear()
    assert services.subscriptions_warn_before_suspension(now=first + timedelta(days=41 + 11, hours=1)) == 1
    assert _to(outbox) == ["admin@acme.example", "owner@acme.example"]
    assert later.number in outbox[0].body


def _close_a_period_again(subscription, *, now) -> Invoice:
    subscription.refresh_from_db()
    Subscription.objects.filter(pk=subscription.pk).update(current_period_end=now - timedelta(days=1))
    return services.subscription_close_period(subscription_id=subscription.pk, now=now)


def test_no_warning_setting_zero_and_a_warning_window_wider_than_the_grace(past_due, outbox, settings):
    subscription, _ = past_due
    settings.BILLING_SUSPENSION_WARNING_DAYS = 0
    assert services.subscriptions_warn_before_suspension(now=subscription.past_due_since + timedelta(days=13)) == 0
    settings.BILLING_SUSPENSION_WARNING_DAYS, settings.BILLING_GRACE_DAYS = 30, 2
    # Warned at once (the first beat after the failure), still before the suspension.
    assert services.subscriptions_warn_before_suspension(now=subscription.past_due_since + timedelta(hours=1)) == 1
    assert len(outbox) == 2


@pytest.fixture
def broker_down(transactional_db):
    """The broker refuses connections (a closed port), then is restored."""
    from config.celery import app

    saved = (app.conf.broker_url, app.conf.task_always_eager, app.conf.broker_transport_options)
    app.conf.broker_url, app.conf.task_always_eager = "redis://127.0.0.1:1/0", False
    app.conf.broker_transport_options = {}
    app._after_fork()  # drop pooled connections to the real broker
    yield
    app.conf.broker_url, app.conf.task_always_eager, app.conf.broker_transport_options = saved
    app._after_fork()


def test_a_broker_that_refuses_the_mail_does_not_stop_the_close(broker_down, billed_tenant, cast):
    from tests.factories import TenantFactory

    second = TenantFactory(plan=billed_tenant.plan)
    for tenant in (billed_tenant, second):
        services.subscription_ensure(tenant=tenant, now=timezone.now() - timedelta(days=40))

    assert services.periods_close_due() == 2  # both periods closed although no e-mail could be enqueued
    assert Invoice.objects.filter(status="open").count() == 2
    assert not EmailNotification.objects.exists()

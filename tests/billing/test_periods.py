"""Invoices from the exact meter, the period close on beat, and closing twice (never two invoices)."""
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings as django_settings
from django.db import connection, connections

from billing import pricing, selectors, services
from billing.models import FinalisedInvoiceError, Invoice, InvoiceLine, Subscription
from tests.billing.conftest import meter_calls, priced_plan

pytestmark = pytest.mark.django_db

START = datetime(2026, 1, 31, 15, 30, tzinfo=UTC)


def _subscription(tenant, now=START) -> Subscription:
    return services.subscription_ensure(tenant=tenant, now=now)


def test_overage_is_rounded_half_up_to_the_minor_unit():
    assert pricing.overage_cents(requests=2500, included=1000, cents_per_1000=1) == 2  # 1.5 → 2
    assert pricing.overage_cents(requests=2499, included=1000, cents_per_1000=1) == 1  # 1.499 → 1
    assert pricing.overage_cents(requests=999, included=1000, cents_per_1000=50) == 0
    assert pricing.overage_cents(requests=1_001_000, included=0, cents_per_1000=7) == 7007


def test_monthly_periods_keep_the_anchor_day_through_short_months():
    anchor = datetime(2026, 1, 31, tzinfo=UTC)
    feb = pricing.period_end_after(anchor=anchor, start=anchor, interval="month")
    mar = pricing.period_end_after(anchor=anchor, start=feb, interval="month")
    assert (feb.date().isoformat(), mar.date().isoformat()) == ("2026-02-28", "2026-03-31")
    year = pricing.period_end_after(anchor=anchor, start=anchor, interval="year")
    assert year.date().isoformat() == "2027-01-31"


def test_a_subscription_starts_today_on_the_tenants_plan(billed_tenant):
    subscription = _subscription(billed_tenant)
    assert subscription.status == "active"
    assert subscription.current_period_start == datetime(2026, 1, 31, tzinfo=UTC)
    assert subscription.current_period_end == datetime(2026, 2, 28, tzinfo=UTC)
    assert _subscription(billed_tenant).pk == subscription.pk  # one per tenant


def test_the_invoice_totals_match_the_meters_counts_for_the_period(billed_tenant, other_tenant):
    subscription = _subscription(billed_tenant)
    meter_calls(billed_tenant, datetime(2026, 1, 31, 16, tzinfo=UTC), 1700)
    meter_calls(billed_tenant, datetime(2026, 2, 27, 23, 59, tzinfo=UTC), 800, status=500)  # errors count too
    meter_calls(billed_tenant, datetime(2026, 2, 28, 0, 0, 1, tzinfo=UTC), 99)  # the next period
    meter_calls(billed_tenant, datetime(2026, 1, 30, 23, tzinfo=UTC), 55)  # before the subscription
    meter_calls(other_tenant, datetime(2026, 2, 10, tzinfo=UTC), 5000)  # someone else's

    invoice = services.subscription_close_period(subscription_id=subscription.pk,
                                                 now=datetime(2026, 2, 28, 1, tzinfo=UTC))
    usage = selectors.usage_summary(tenant=billed_tenant, start=datetime(2026, 1, 31).date(),
                                    end=datetime(2026, 2, 27).date(), group_by="day")
    plan_line, usage_line = invoice.lines.all()
    assert usage_line.quantity == usage["total"]["requests"] == 2500
    assert (plan_line.amount_cents, usage_line.unit_cents, usage_line.amount_cents) == (2900, 50, 75)
    assert (invoice.subtotal_cents, invoice.tax_cents, invoice.total_cents) == (2975, 0, 2975)
    assert (invoice.status, invoice.collection, invoice.currency) == ("open", "manual", "eur")
    assert invoice.number.startswith("GS-") and invoice.finalized_at is not None
    subscription.refresh_from_db()
    assert subscription.current_period_start == datetime(2026, 2, 28, tzinfo=UTC)
    assert subscription.current_period_end == datetime(2026, 3, 31, tzinfo=UTC)


def test_the_upcoming_invoice_is_the_period_so_far_computed_live(billed_tenant):
    subscription = _subscription(billed_tenant)
    meter_calls(billed_tenant, datetime(2026, 2, 3, tzinfo=UTC), 3000)
    upcoming = selectors.invoice_upcoming(subscription=subscription, now=datetime(2026, 2, 3, 12, tzinfo=UTC))
    assert upcoming["status"] == "upcoming" and upcoming["number"] is None
    assert [line["quantity"] for line in upcoming["lines"]] == [1, 3000]
    assert upcoming["total_cents"] == 2900 + 100
    assert not Invoice.objects.exists()


def test_a_period_is_not_closed_before_the_meter_has_caught_up(billed_tenant):
    subscription = _subscription(billed_tenant)
    end = subscription.current_period_end
    early = end + timedelta(minutes=django_settings.BILLING_CLOSE_DELAY_MINUTES - 1)
    assert services.subscription_close_period(subscription_id=subscription.pk, now=early) is None
    assert services.periods_close_due(now=early) == 0
    assert not Invoice.objects.exists()


def test_two_beats_close_one_period_into_one_invoice(billed_tenant):
    subscription = _subscription(billed_tenant)
    after = subscription.current_period_end + timedelta(hours=1)
    assert services.periods_close_due(now=after) == 1
    assert services.periods_close_due(now=after) == 0  # the second beat (or a retry)
    assert Invoice.objects.filter(subscription=subscription).count() == 1
    # An explicit retry of the closed period finds nothing due either.
    assert services.subscription_close_period(subscription_id=subscription.pk, now=after) is None


def test_invoice_numbers_are_sequential_across_tenants(billed_tenant, other_tenant, plan):
    other_tenant.plan = plan
    other_tenant.save(update_fields=["plan"])
    first, second = _subscription(billed_tenant), _subscription(other_tenant)
    after = first.current_period_end + timedelta(hours=1)
    services.periods_close_due(now=after)
    numbers = sorted(Invoice.objects.values_list("number", flat=True))
    assert len(numbers) == 2 and int(numbers[1][-6:]) == int(numbers[0][-6:]) + 1
    assert {second.pk, first.pk} == set(Invoice.objects.values_list("subscription_id", flat=True))


def test_a_finalised_invoices_lines_are_immutable(billed_tenant):
    subscription = _subscription(billed_tenant)
    invoice = services.subscription_close_period(subscription_id=subscription.pk,
                                                 now=subscription.current_period_end + timedelta(hours=1))
    line = invoice.lines.first()
    line.amount_cents = 1
    with pytest.raises(FinalisedInvoiceError):
        line.save()
    with pytest.raises(FinalisedInvoiceError):
        line.delete()
    with pytest.raises(FinalisedInvoiceError):
        InvoiceLine(invoice=invoice, position=9, kind="usage", description="x", quantity=1, unit_cents=1,
                    amount_cents=1).save()


def test_a_free_plan_invoice_is_paid_at_once(tenant):
    tenant.plan = priced_plan(slug="free", price_cents=0, overage_cents_per_1000=0)
    tenant.save(update_fields=["plan"])
    subscription = _subscription(tenant)
    invoice = services.subscription_close_period(subscription_id=subscription.pk,
                                                 now=subscription.current_period_end + timedelta(hours=1))
    assert (invoice.status, invoice.total_cents) == ("paid", 0) and invoice.paid_at is not None


def test_cancel_at_period_end_invoices_the_last_period_then_ends(billed_tenant):
    subscription = _subscription(billed_tenant)
    services.subscription_cancel(tenant=billed_tenant)
    after = subscription.current_period_end + timedelta(hours=1)
    assert services.periods_close_due(now=after) == 1
    subscription.refresh_from_db()
    assert subscription.status == "canceled" and subscription.canceled_at is not None
    assert services.periods_close_due(now=after + timedelta(days=40)) == 0


def test_a_trial_period_is_not_invoiced_and_billing_starts_at_its_end(billed_tenant, settings):
    settings.BILLING_TRIAL_DAYS = 14
    subscription = _subscription(billed_tenant)
    assert subscription.status == "trialing"
    assert subscription.trial_end == datetime(2026, 2, 14, tzinfo=UTC)
    assert services.subscription_close_period(subscription_id=subscription.pk,
                                              now=datetime(2026, 2, 14, 1, tzinfo=UTC)) is None
    subscription.refresh_from_db()
    assert subscription.status == "active"
    assert (subscription.current_period_start, subscription.current_period_end) == (
        datetime(2026, 2, 14, tzinfo=UTC), datetime(2026, 3, 14, tzinfo=UTC))
    assert not Invoice.objects.exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks between threads need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_concurrent_closes_of_one_period_make_one_invoice(billed_tenant):
    subscription = _subscription(billed_tenant)
    after = subscription.current_period_end + timedelta(hours=1)
    barrier = threading.Barrier(4)
    results, errors = [], []

    def close() -> None:
        try:
            barrier.wait()
            results.append(services.subscription_close_period(subscription_id=subscription.pk, now=after))
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=close) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(result is not None for result in results) == 1
    assert Invoice.objects.filter(subscription=subscription).count() == 1
    subscription.refresh_from_db()
    assert subscription.current_period_start == datetime(2026, 2, 28, tzinfo=UTC)


def test_the_management_command_closes_due_periods(billed_tenant):
    from io import StringIO

    from django.core.management import call_command

    subscription = services.subscription_ensure(tenant=billed_tenant, now=datetime.now(UTC) - timedelta(days=40))
    out = StringIO()
    call_command("billing_close_periods", stdout=out)
    assert "closed 1 periods" in out.getvalue()
    assert Invoice.objects.filter(subscription=subscription).count() == 1

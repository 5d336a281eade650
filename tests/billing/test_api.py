"""The billing API: the role matrix (admins change the plan; viewers read; others 404), the
shapes of SPEC §4, and bad input answered in the envelope."""
from datetime import timedelta

import pytest
from django.utils import timezone

from billing import services
from billing.models import Invoice
from tenants.policy import Action
from tests.billing.conftest import meter_calls, priced_plan
from tests.conftest import bearer_client
from tests.matrix import Case, PermissionMatrix

pytestmark = pytest.mark.django_db


def _closed_invoice(tenant) -> Invoice:
    subscription = services.subscription_ensure(tenant=tenant, now=timezone.now() - timedelta(days=40))
    return services.subscription_close_period(subscription_id=subscription.pk)


class TestBillingEndpoints(PermissionMatrix):
    cases = [
        Case("subscription", "get", "/api/v1/billing/subscription", Action.READ, 200),
        Case("change plan", "put", "/api/v1/billing/subscription", Action.MANAGE_BILLING, 200, {"plan": "{plan}"}),
        Case("cancel", "delete", "/api/v1/billing/subscription", Action.MANAGE_BILLING, 200),
        Case("invoices", "get", "/api/v1/billing/invoices", Action.READ, 200),
        Case("upcoming", "get", "/api/v1/billing/invoices/upcoming", Action.READ, 200),
        Case("invoice", "get", "/api/v1/billing/invoices/{invoice}", Action.READ, 200),
        Case("payments", "get", "/api/v1/billing/payments", Action.READ, 200),
    ]

    def make_data(self, tenant, actor) -> dict:
        tenant.plan = priced_plan()
        tenant.save(update_fields=["plan"])
        return {"plan": priced_plan().slug, "invoice": _closed_invoice(tenant).pk}


@pytest.fixture
def owner_client(billed_tenant, owner):
    return bearer_client(owner, billed_tenant)


def test_the_subscription_has_the_spec_shape(owner_client, billed_tenant):
    body = owner_client.get("/api/v1/billing/subscription").json()
    assert set(body) >= {"plan", "status", "current_period_start", "current_period_end", "cancel_at_period_end"}
    assert (body["plan"], body["status"], body["cancel_at_period_end"], body["collection"]) == (
        "pro", "active", False, "manual")


def test_an_admin_changes_the_plan_and_a_cancel_waits_for_the_period_end(owner_client, billed_tenant):
    assert owner_client.delete("/api/v1/billing/subscription").json()["cancel_at_period_end"] is True
    business = priced_plan(slug="business", price_cents=9900)
    body = owner_client.put("/api/v1/billing/subscription", {"plan": "business"}, format="json").json()
    assert (body["plan"], body["cancel_at_period_end"]) == ("business", False)
    billed_tenant.refresh_from_db()
    assert billed_tenant.plan == business
    upcoming = owner_client.get("/api/v1/billing/invoices/upcoming").json()
    assert upcoming["lines"][0]["amount_cents"] == 9900


@pytest.mark.parametrize("body", [{}, {"plan": "no-such-plan"}, {"plan": 7}, {"plan": "pro", "extra": 1},
                                  {"plan": ["pro"]}])
def test_bad_plan_changes_are_400_in_the_envelope(owner_client, body):
    response = owner_client.put("/api/v1/billing/subscription", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_invoices_list_and_detail_in_the_spec_shape(owner_client, billed_tenant):
    invoice = _closed_invoice(billed_tenant)
    page = owner_client.get("/api/v1/billing/invoices").json()
    assert page["count"] == 1
    detail = owner_client.get(f"/api/v1/billing/invoices/{invoice.pk}").json()
    assert set(detail) >= {"number", "period_start", "period_end", "status", "currency", "lines",
                           "subtotal_cents", "tax_cents", "total_cents"}
    assert set(detail["lines"][0]) >= {"description", "quantity", "unit_cents", "amount_cents"}
    assert owner_client.get("/api/v1/billing/invoices?status=paid").json()["count"] == 0
    assert owner_client.get("/api/v1/billing/invoices?status=bogus").status_code == 400


def test_the_upcoming_usage_line_is_what_the_usage_endpoint_reports(owner_client, billed_tenant):
    meter_calls(billed_tenant, timezone.now() - timedelta(minutes=5), 1234)
    upcoming = owner_client.get("/api/v1/billing/invoices/upcoming").json()
    usage = owner_client.get("/api/v1/usage").json()
    assert upcoming["status"] == "upcoming"
    assert upcoming["lines"][1]["quantity"] == 1234 <= usage["total"]["requests"]


@pytest.mark.parametrize("path", ["/api/v1/billing/invoices/not-a-uuid",
                                  "/api/v1/billing/invoices/00000000-0000-0000-0000-000000000000"])
def test_unknown_invoices_are_404(owner_client, path):
    response = owner_client.get(path)
    assert response.status_code == 404 and response.json()["error"]["code"] == "NOT_FOUND"


def test_plans_carry_prices_through_the_staff_api(db):
    from tests.factories import UserFactory

    staff = bearer_client(UserFactory(is_staff=True, is_superuser=True))
    response = staff.post("/api/admin/plans", {
        "name": "Scale", "slug": "scale", "rates": ["100/s"], "price_cents": 49900, "currency": "USD",
        "interval": "year", "included_requests": 10_000_000, "overage_cents_per_1000": 2,
    }, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["price_cents"], body["currency"], body["interval"], body["stripe_price_id"]) == (
        49900, "usd", "year", "")
    patched = staff.patch(f"/api/admin/plans/{body['id']}", {"price_cents": 1}, format="json")
    assert patched.json()["price_cents"] == 1
    for bad in ({"interval": "week"}, {"currency": "euro"}, {"price_cents": -1}):
        response = staff.patch(f"/api/admin/plans/{body['id']}", bad, format="json")
        assert response.status_code == 400 and response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_options_on_the_subscription_describes_it_not_a_500(tenant, owner):
    """DRF's OPTIONS metadata reads the object for PUT (found by Schemathesis: it was a 500)."""
    response = bearer_client(owner, tenant).options("/api/v1/billing/subscription")
    assert response.status_code == 200, response.content

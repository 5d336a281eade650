"""`/api/v1/tenants`: my tenants, creating one (I become owner), details, billing, soft delete."""
import pytest

from core.models import AuditEvent
from tenants.models import Membership, Tenant
from tenants.policy import Role
from tests.conftest import bearer_client
from tests.factories import MembershipFactory, PlanFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db
BILLING = {
    "company_name": "Acme GmbH",
    "company_address": "Hauptstr. 1, Berlin",
    "tax_number_type": "vat",
    "tax_number": "DE 123456789",
    "country": "de",
}


def test_creating_a_tenant_makes_the_creator_its_owner():
    user = UserFactory()
    client = bearer_client(user)

    response = client.post("/api/v1/tenants", {"name": "Acme Rockets", "billing_account": BILLING}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["slug"] == "acme-rockets"
    assert body["role"] == "owner"
    assert body["status"] == "active"
    assert body["billing_account"]["country"] == "DE"
    assert body["billing_account"]["tax_number"] == "DE123456789"
    assert Membership.objects.get(tenant_id=body["id"], user=user).role == Role.OWNER
    assert AuditEvent.objects.filter(action="tenant.create", tenant_id=body["id"]).exists()


def test_slugs_are_unique_and_generated_ones_get_a_suffix():
    client = bearer_client(UserFactory())
    first = client.post("/api/v1/tenants", {"name": "Same"}, format="json").json()
    second = client.post("/api/v1/tenants", {"name": "Same"}, format="json").json()
    assert (first["slug"], second["slug"]) == ("same", "same-2")
    taken = client.post("/api/v1/tenants/", {"name": "X", "slug": "same"}, format="json")
    assert taken.status_code == 400
    assert "slug" in taken.json()["error"]["details"]


@pytest.mark.parametrize(
    "billing, field",
    [
        ({**BILLING, "country": "XX"}, "country"),
        ({**BILLING, "country": "DEU"}, "country"),
        ({**BILLING, "tax_number_type": "ssn"}, "tax_number_type"),
        ({**BILLING, "tax_number": "FR123456789"}, "tax_number"),
        ({**BILLING, "tax_number_type": "ein", "tax_number": "12-3456789"}, "tax_number_type"),
        ({**BILLING, "tax_number": ""}, "tax_number"),
        ({**BILLING, "surprise": "field"}, "surprise"),
    ],
)
def test_it_validates_the_billing_account(billing, field):
    response = bearer_client(UserFactory()).post(
        "/api/v1/tenants", {"name": "Acme", "billing_account": billing}, format="json"
    )
    assert response.status_code == 400
    assert field in response.json()["error"]["details"]["billing_account"]


def test_a_us_ein_and_a_greek_vat_number_are_accepted():
    client = bearer_client(UserFactory())
    us = {"tax_number_type": "ein", "tax_number": "12-3456789", "country": "US"}
    gr = {"tax_number_type": "vat", "tax_number": "EL123456789", "country": "GR"}
    assert client.post("/api/v1/tenants", {"name": "US", "billing_account": us}, format="json").status_code == 201
    assert client.post("/api/v1/tenants", {"name": "GR", "billing_account": gr}, format="json").status_code == 201


def test_the_list_shows_only_my_live_tenants_with_my_role():
    user = UserFactory()
    mine = MembershipFactory(user=user, role=Role.VIEWER).tenant
    MembershipFactory(user=user, tenant=TenantFactory(status=Tenant.Status.DELETED))
    TenantFactory()

    body = bearer_client(user).get("/api/v1/tenants").json()

    assert [(t["slug"], t["role"]) for t in body["results"]] == [(mine.slug, "viewer")]
    assert body["count"] == 1


def test_details_include_billing_and_plan(tenant, owner):
    tenant.plan = PlanFactory(slug="pro")
    tenant.billing_account = {"company_name": "Acme", "country": "DE"}
    tenant.save()

    body = bearer_client(owner).get(f"/api/v1/tenants/{tenant.slug}").json()

    assert body["plan"] == "pro"
    assert body["billing_account"]["company_name"] == "Acme"
    assert body["role"] == "owner"


def test_admins_edit_name_and_billing_but_not_slug_or_status(tenant, make_member):
    admin = make_member(tenant, Role.ADMIN)
    client = bearer_client(admin)
    refused = client.patch(
        f"/api/v1/tenants/{tenant.slug}",
        {"name": "New name", "billing_account": BILLING, "slug": "hijack", "status": "suspended"},
        format="json",
    )
    assert refused.status_code == 400
    assert set(refused.json()["error"]["details"]) == {"slug", "status"}
    tenant.refresh_from_db()
    assert (tenant.name, tenant.slug, tenant.status) != ("New name", "hijack", "suspended")
    response = client.patch(f"/api/v1/tenants/{tenant.slug}", {"name": "New name", "billing_account": BILLING},
                            format="json")
    assert response.status_code == 200
    tenant.refresh_from_db()
    assert (tenant.name, tenant.slug, tenant.status) == ("New name", tenant.slug, "active")
    assert tenant.billing_account["company_name"] == "Acme GmbH"


def test_name_and_billing_edits_are_audited_without_the_billing_values(tenant, make_member):
    from core.models import AuditEvent

    admin = make_member(tenant, Role.ADMIN)
    old_name = tenant.name
    client = bearer_client(admin)
    client.patch(f"/api/v1/tenants/{tenant.slug}", {"name": "New name", "billing_account": BILLING}, format="json")
    event = AuditEvent.objects.get(action="tenant.update", tenant_id=tenant.pk)
    assert event.actor == admin and event.changes["name"] == [old_name, "New name"]
    assert "company_name" in event.changes["billing_account"]
    assert "Acme GmbH" not in str(event.changes)
    client.patch(f"/api/v1/tenants/{tenant.slug}", {"name": "New name"}, format="json")  # no change, no entry
    assert AuditEvent.objects.filter(action="tenant.update").count() == 1


def test_owner_delete_is_soft_and_the_tenant_disappears(tenant, owner):
    client = bearer_client(owner)
    assert client.delete(f"/api/v1/tenants/{tenant.slug}").status_code == 204
    tenant.refresh_from_db()
    assert tenant.status == Tenant.Status.DELETED
    assert client.get(f"/api/v1/tenants/{tenant.slug}").status_code == 404
    assert client.get("/api/v1/tenants").json()["count"] == 0


def test_a_suspended_tenant_answers_403_to_its_members(tenant, owner):
    tenant.status = Tenant.Status.SUSPENDED
    tenant.save()
    client = bearer_client(owner)
    for path in (f"/api/v1/tenants/{tenant.slug}", f"/api/v1/tenants/{tenant.slug}/members"):
        response = client.get(path)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "FORBIDDEN"


def test_an_unknown_slug_is_404_like_a_foreign_one(owner):
    assert bearer_client(owner).get("/api/v1/tenants/does-not-exist").status_code == 404


def test_anonymous_callers_get_401_on_the_list(api_client):
    assert api_client.get("/api/v1/tenants").status_code == 401
    assert api_client.post("/api/v1/tenants", {"name": "x"}, format="json").status_code == 401

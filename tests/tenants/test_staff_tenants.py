"""`/api/admin/tenants`: staff only; filters, search, create with an owner, plan by slug,
suspend/reactivate via PATCH `status`, DELETE deactivates."""
import pytest

from core.models import AuditEvent
from tenants.models import Membership, Tenant
from tenants.policy import Role
from tests.conftest import bearer_client
from tests.factories import PlanFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db
TENANTS = "/api/admin/tenants"


@pytest.fixture
def staff_user():
    return UserFactory(is_staff=True, is_superuser=True)


@pytest.fixture
def staff(staff_user):
    return bearer_client(staff_user)


@pytest.mark.parametrize(
    "method, path", [("get", ""), ("post", ""), ("get", "/{id}"), ("put", "/{id}"), ("patch", "/{id}"),
                     ("delete", "/{id}")]
)
def test_non_staff_get_403_and_anonymous_401(api_client, tenant, owner, method, path):
    url = TENANTS + path.format(id=tenant.pk)
    assert getattr(bearer_client(owner), method)(url, {}, format="json").status_code == 403
    assert getattr(api_client, method)(url, {}, format="json").status_code == 401


def test_staff_list_filters_by_status_and_plan_and_searches(staff):
    pro = PlanFactory(slug="pro")
    TenantFactory(name="Alpha", slug="alpha", plan=pro)
    TenantFactory(name="Beta", slug="beta", status=Tenant.Status.SUSPENDED)

    assert [t["slug"] for t in staff.get(TENANTS, {"plan": "pro"}).json()["results"]] == ["alpha"]
    assert [t["slug"] for t in staff.get(TENANTS, {"status": "suspended"}).json()["results"]] == ["beta"]
    assert [t["slug"] for t in staff.get(TENANTS + "/", {"search": "alp"}).json()["results"]] == ["alpha"]


def test_staff_create_a_tenant_with_an_owner_and_a_plan_slug(staff):
    owner = UserFactory()
    PlanFactory(slug="team")

    response = staff.post(
        TENANTS,
        {"name": "Globex", "slug": "globex", "plan": "team", "owner_email": owner.email,
         "billing_account": {"country": "US", "tax_number_type": "ein", "tax_number": "12-3456789"}},
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["plan"], body["member_count"], body["status"]) == ("team", 1, "active")
    assert Membership.objects.get(tenant_id=body["id"]).user == owner


def test_an_unknown_plan_slug_or_owner_is_400(staff):
    assert staff.post(TENANTS, {"name": "X", "plan": "nope"}, format="json").status_code == 400
    assert staff.post(TENANTS, {"name": "X", "owner_email": "ghost@example.com"}, format="json").status_code == 400


def test_staff_change_the_plan_and_suspend_then_reactivate(staff, staff_user, tenant, owner):
    PlanFactory(slug="enterprise")
    url = f"{TENANTS}/{tenant.pk}"

    assert staff.patch(url, {"plan": "enterprise"}, format="json").json()["plan"] == "enterprise"
    suspended = staff.patch(url, {"status": "suspended"}, format="json")
    assert suspended.json()["status"] == "suspended"
    assert bearer_client(owner).get(f"/api/v1/tenants/{tenant.slug}").status_code == 403
    assert staff.patch(url, {"status": "active"}, format="json").json()["status"] == "active"
    assert bearer_client(owner).get(f"/api/v1/tenants/{tenant.slug}").status_code == 200
    actions = set(AuditEvent.objects.filter(tenant_id=tenant.pk, actor=staff_user).values_list("action", flat=True))
    assert {"tenant.plan", "tenant.status.suspended", "tenant.status.active"} <= actions


def test_staff_put_replaces_editable_fields(staff, tenant):
    response = staff.put(
        f"{TENANTS}/{tenant.pk}", {"name": "Renamed", "billing_account": {"company_name": "R Ltd"}}, format="json"
    )
    assert response.status_code == 200
    tenant.refresh_from_db()
    assert (tenant.name, tenant.billing_account["company_name"]) == ("Renamed", "R Ltd")


def test_staff_delete_deactivates(staff, tenant, owner):
    assert staff.delete(f"{TENANTS}/{tenant.pk}/").status_code == 204
    tenant.refresh_from_db()
    assert tenant.status == Tenant.Status.DELETED
    assert Membership.objects.filter(tenant=tenant, role=Role.OWNER).exists()  # history kept

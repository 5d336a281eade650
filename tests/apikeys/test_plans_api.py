"""Staff API for plans: `/api/admin/plans`."""
import pytest

from tenants.models import Plan
from tests.apikeys.conftest import key_client
from tests.apikeys.factories import make_key
from tests.conftest import bearer_client
from tests.factories import PlanFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(db):
    return UserFactory(is_staff=True, is_superuser=True)


def test_staff_create_edit_and_delete_plans(staff):
    client = bearer_client(staff)
    response = client.post(
        "/api/admin/plans", {"name": "Pro", "slug": "pro", "rates": ["50/s", "2000/m", "100000/h"]}, format="json"
    )
    assert response.status_code == 201
    plan_id = response.json()["id"]
    assert response.json()["rates"] == ["50/s", "2000/m", "100000/h"]
    assert client.get("/api/admin/plans/").json()["count"] == 1
    response = client.patch(f"/api/admin/plans/{plan_id}", {"rates": ["10/m"]}, format="json")
    assert response.status_code == 200 and Plan.objects.get(pk=plan_id).rates == ["10/m"]
    assert client.delete(f"/api/admin/plans/{plan_id}").status_code == 204
    assert not Plan.objects.filter(pk=plan_id).exists()


@pytest.mark.parametrize("rates", [["10/w"], ["0/m"], "1000/m", ["1/m", "2/m"], ["ten/m"]])
def test_it_rejects_malformed_rates(staff, rates):
    response = bearer_client(staff).post("/api/admin/plans", {"name": "X", "slug": "x", "rates": rates}, format="json")
    assert response.status_code == 400
    assert "rates" in response.json()["error"]["details"]


def test_a_plan_in_use_cannot_be_deleted(staff, tenant):
    plan = PlanFactory()
    tenant.plan = plan
    tenant.save()
    response = bearer_client(staff).delete(f"/api/admin/plans/{plan.pk}")
    assert response.status_code == 409 and response.json()["error"]["code"] == "CONFLICT"


@pytest.mark.parametrize("who", ["anonymous", "owner", "admin_key"])
def test_only_staff_manage_plans(who, tenant, owner):
    plan = PlanFactory()
    if who == "anonymous":
        from rest_framework.test import APIClient

        client, expected = APIClient(raise_request_exception=False), 401
    elif who == "owner":
        client, expected = bearer_client(owner, tenant), 403
    else:
        client, expected = key_client(make_key(tenant, scopes=["admin"])[1]), 403
    assert client.get("/api/admin/plans").status_code == expected
    assert client.patch(f"/api/admin/plans/{plan.pk}", {"rates": ["1/m"]}, format="json").status_code == expected

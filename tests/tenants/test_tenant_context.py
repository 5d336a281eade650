"""The tenant context every tenant-scoped endpoint inherits (docs/api.md), tested through HTTP."""
import pytest

from tenants.models import Tenant
from tenants.policy import Role
from tests.conftest import bearer_client
from tests.factories import MembershipFactory, TenantFactory, UserFactory
from tests.tenants.factories import api_key_for

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.tenants.urls")]
PROBE = "/api/v1/probe"


def test_the_only_membership_is_used_without_a_header(tenant, member):
    response = bearer_client(member).get(PROBE)
    assert response.status_code == 200
    assert response.json()["count"] == 1


def test_several_memberships_without_a_header_answer_tenant_required(tenant, member):
    MembershipFactory(user=member, tenant=TenantFactory())
    response = bearer_client(member).get(PROBE)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "TENANT_REQUIRED"


def test_no_membership_answers_tenant_required():
    response = bearer_client(UserFactory()).get(PROBE)
    assert response.json()["error"]["code"] == "TENANT_REQUIRED"


def test_the_header_picks_one_of_several_tenants(tenant, member):
    other = MembershipFactory(user=member, tenant=TenantFactory(), role=Role.ADMIN).tenant
    assert bearer_client(member, other).post(PROBE, {}, format="json").json() == {"tenant": other.slug}
    assert bearer_client(member, tenant).post(PROBE, {}, format="json").status_code == 403


def test_a_tenant_the_caller_is_not_in_is_404_never_403(tenant, outsider):
    response = bearer_client(outsider, tenant).get(PROBE)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


def test_a_personal_token_gets_the_same_context_as_a_jwt(tenant, member):
    raw = bearer_client(member).post("/api/v1/auth/tokens", {"name": "cli"}, format="json").json()["token"]
    client = bearer_client(member, tenant)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get(PROBE).status_code == 200


@pytest.mark.parametrize("via", ["jwt", "key"])
def test_a_suspended_tenant_is_403_for_members_and_keys(tenant, member, via):
    raw = api_key_for(tenant, ["read"])
    tenant.status = Tenant.Status.SUSPENDED
    tenant.save()
    client = bearer_client(member)
    if via == "key":
        client.credentials(HTTP_X_API_KEY=raw)
    response = client.get(PROBE)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "FORBIDDEN"


def test_a_key_carries_its_tenant_and_cannot_name_another(tenant, other_tenant):
    client = bearer_client(UserFactory())
    client.credentials(HTTP_X_API_KEY=api_key_for(tenant, ["read"]))
    assert client.get(PROBE).status_code == 200
    client.defaults["HTTP_X_TENANT"] = other_tenant.slug
    assert client.get(PROBE).status_code == 404


def test_a_key_never_exceeds_its_scopes(tenant):
    client = bearer_client(UserFactory())
    client.credentials(HTTP_X_API_KEY=api_key_for(tenant, ["read", "write"]))
    assert client.post(PROBE, {}, format="json").status_code == 403

"""Role matrix: each role, anonymous and an outsider × each tenant action, from the policy table.

Expected statuses are derived from `tenants.policy` (never restated here): allowed → the
endpoint's success code, denied → 403, anonymous → 401, outsider (owner of another tenant) → 404.
"""
from dataclasses import dataclass

import pytest
from rest_framework.test import APIClient

from tenants.policy import Action, Role, Scope, role_allows, scopes_allow
from tests.conftest import bearer_client
from tests.factories import MembershipFactory, TenantFactory, UserFactory
from tests.tenants.factories import InvitationFactory, api_key_for

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str
    action: Action
    success: int
    body: dict | None = None


ENDPOINTS = [
    Endpoint("tenant.retrieve", "get", "/api/v1/tenants/{slug}", Action.READ, 200),
    Endpoint("tenant.update", "patch", "/api/v1/tenants/{slug}", Action.ADMINISTER, 200, {"name": "Renamed"}),
    Endpoint("tenant.delete", "delete", "/api/v1/tenants/{slug}", Action.OWN, 204),
    Endpoint("members.list", "get", "/api/v1/tenants/{slug}/members", Action.READ, 200),
    Endpoint("members.add", "post", "/api/v1/tenants/{slug}/members", Action.ADMINISTER, 201,
             {"email": "{newcomer}", "role": "viewer"}),
    # `viewer` → `viewer`: an `admin`-only key grants nothing above viewer (test_key_ceiling.py).
    Endpoint("members.change_role", "patch", "/api/v1/tenants/{slug}/members/{target}", Action.ADMINISTER, 200,
             {"role": "viewer"}),
    Endpoint("members.remove", "delete", "/api/v1/tenants/{slug}/members/{target}", Action.ADMINISTER, 204),
    Endpoint("invitations.list", "get", "/api/v1/tenants/{slug}/invitations", Action.ADMINISTER, 200),
    Endpoint("invitations.create", "post", "/api/v1/tenants/{slug}/invitations", Action.ADMINISTER, 201,
             {"email": "fresh@example.com", "role": "viewer"}),
    Endpoint("invitations.revoke", "delete", "/api/v1/tenants/{slug}/invitations/{invitation}", Action.ADMINISTER,
             204),
]
CALLERS = [*Role.values, "anonymous", "outsider"]


def expected_status(caller: str, endpoint: Endpoint) -> int:
    if caller == "anonymous":
        return 401
    if caller == "outsider":
        return 404
    return endpoint.success if role_allows(caller, endpoint.action) else 403


def call(endpoint: Endpoint, tenant, client_for):
    MembershipFactory(tenant=tenant, role=Role.OWNER)  # the tenant always keeps an owner
    target = MembershipFactory(tenant=tenant, role=Role.VIEWER).user
    newcomer = UserFactory()
    invitation = InvitationFactory(tenant=tenant)
    client = client_for()
    values = {"slug": tenant.slug, "target": target.pk, "invitation": invitation.pk, "newcomer": newcomer.email}
    path = endpoint.path.format(**values)
    body = {k: v.format(**values) for k, v in (endpoint.body or {}).items()}
    return getattr(client, endpoint.method)(path, body, format="json")


def key_client(raw: str) -> APIClient:
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_X_API_KEY=raw)
    return client


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
@pytest.mark.parametrize("caller", CALLERS)
def test_role_matrix(caller, endpoint):
    tenant = TenantFactory()

    def client_for():
        if caller == "anonymous":
            return APIClient(raise_request_exception=False)
        if caller == "outsider":
            return bearer_client(MembershipFactory(tenant=TenantFactory(), role=Role.OWNER).user)
        return bearer_client(MembershipFactory(tenant=tenant, role=caller).user)

    response = call(endpoint, tenant, client_for)

    assert response.status_code == expected_status(caller, endpoint), response.content
    if response.status_code >= 400:
        assert response.json()["error"]["code"] in {
            401: "AUTHENTICATION_FAILED", 403: "FORBIDDEN", 404: "NOT_FOUND"
        }.values()


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
@pytest.mark.parametrize("scope", [*(s.value for s in Scope), "foreign-admin"])
def test_api_key_scope_matrix(scope, endpoint):
    """A key never exceeds its scopes; a key of another tenant only ever sees 404."""
    tenant = TenantFactory()
    owner_of_key = TenantFactory() if scope == "foreign-admin" else tenant
    scopes = ["admin"] if scope == "foreign-admin" else [scope]

    response = call(endpoint, tenant, lambda: key_client(api_key_for(owner_of_key, scopes)))

    allowed = scopes_allow(scopes, endpoint.action)
    expected = 404 if scope == "foreign-admin" else (endpoint.success if allowed else 403)
    assert response.status_code == expected, response.content


def test_the_matrix_covers_every_action_the_tenant_endpoints_use():
    assert {e.action for e in ENDPOINTS} == {Action.READ, Action.ADMINISTER, Action.OWN}

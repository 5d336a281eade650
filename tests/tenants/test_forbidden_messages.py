"""A 403 FORBIDDEN says which role or scope the action needs (from the policy table)."""
import pytest
from rest_framework.test import APIClient

from apikeys import services as apikey_services
from tenants.policy import Role
from tests.conftest import bearer_client

pytestmark = pytest.mark.django_db
AGENT = {"name": "helper", "prompt": "Be brief."}


def key_client(tenant, scopes):
    _key, secret = apikey_services.api_key_create(tenant=tenant, name="k", scopes=list(scopes))
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def forbidden(response) -> str:
    assert response.status_code == 403, response.content
    error = response.json()["error"]
    assert error["code"] == "FORBIDDEN"
    return error["message"]


@pytest.mark.parametrize(
    ("role", "method", "path", "body", "message"),
    [
        (Role.VIEWER, "post", "/api/v1/agents", AGENT, "This action needs the member role or higher."),
        (Role.MEMBER, "post", "/api/v1/nodes", {"name": "n", "address": "203.0.113.9"},
         "This action needs the operator role or higher."),
        (Role.MEMBER, "post", "/api/v1/satellites/echo/execute", {"inputs": {}},
         "This action needs the operator role or higher."),
        (Role.OPERATOR, "post", "/api/v1/api-keys", {"name": "k", "scopes": ["read"]},
         "This action needs the admin role or higher."),
        (Role.ADMIN, "delete", "/api/v1/tenants/{slug}", None, "This action needs the owner role."),
    ],
)
def test_a_person_is_told_the_role_the_action_needs(tenant, make_member, role, method, path, body, message):
    client = bearer_client(make_member(tenant, role), tenant)
    response = getattr(client, method)(path.format(slug=tenant.slug), body, format="json")
    assert forbidden(response) == message


@pytest.mark.parametrize(
    ("scopes", "method", "path", "body", "message"),
    [
        (["read"], "post", "/api/v1/agents", AGENT, "This API key needs the write scope."),
        (["read", "write"], "post", "/api/v1/satellites/echo/execute", {"inputs": {}},
         "This API key needs the execute scope."),
        (["read"], "post", "/api/v1/nodes", {"name": "n", "address": "203.0.113.9"},
         "This API key needs the write scope."),
        (["read", "write", "execute"], "post", "/api/v1/api-keys", {"name": "k", "scopes": ["read"]},
         "This API key needs the admin scope."),
        (["read", "write", "execute", "admin"], "delete", "/api/v1/tenants/{slug}", None,
         "No API key may do this; it needs a person with the owner role."),
    ],
)
def test_a_key_is_told_the_scope_the_action_needs(tenant, scopes, method, path, body, message):
    response = getattr(key_client(tenant, scopes), method)(path.format(slug=tenant.slug), body, format="json")
    assert forbidden(response) == message


def test_a_member_is_told_why_they_may_not_change_someone_elses_resource(tenant, make_member):
    author = bearer_client(make_member(tenant, Role.MEMBER), tenant)
    agent_id = author.post("/api/v1/agents", AGENT, format="json").json()["id"]
    other = bearer_client(make_member(tenant, Role.MEMBER), tenant)
    message = forbidden(other.patch(f"/api/v1/agents/{agent_id}", {"name": "mine"}, format="json"))
    assert message == "Members change only what they created; this needs the operator role or higher."

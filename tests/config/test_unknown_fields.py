"""Unknown fields in a JSON body are refused with a 400 naming them, on every write endpoint.

Checked once in the plumbing (`core/api/unknown_fields.py`), so the routes below stand for
all: a plain input serializer, a model serializer, a nested object, list items, a staff route.
"""
import pytest

from apikeys.models import ApiKey
from monitoring.models import Node
from orchestration.models import Agent
from tests.conftest import bearer_client
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def refused(response, *names) -> dict:
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    for name in names:
        assert "Unknown field" in " ".join(map(str, error["details"][name])), error["details"]
    return error["details"]


def test_an_unknown_field_on_create_is_refused_and_nothing_is_created(owner, tenant):
    client = bearer_client(owner, tenant)
    details = refused(client.post("/api/v1/agents", {"name": "a", "prompt": "p", "temprature": 0.2}, format="json"),
                      "temprature")
    assert "prompt" in details["temprature"][0]  # the message lists what is accepted
    assert not Agent.objects.exists()


def test_an_unknown_field_on_update_is_refused_and_nothing_changes(owner, tenant):
    client = bearer_client(owner, tenant)
    node = client.post("/api/v1/nodes", {"name": "n", "address": "203.0.113.9"}, format="json").json()
    refused(client.patch(f"/api/v1/nodes/{node['id']}", {"name": "renamed", "tennant": "x"}, format="json"), "tennant")
    assert Node.objects.get(pk=node["id"]).name == "n"


def test_known_field_errors_come_in_the_same_answer(owner, tenant):
    client = bearer_client(owner, tenant)
    details = refused(client.post("/api/v1/agents", {"name": 5, "prompt": "p", "extra": 1}, format="json"), "extra")
    assert "name" in details


def test_read_only_fields_may_be_sent_back_and_are_ignored(owner, tenant):
    client = bearer_client(owner, tenant)
    node = client.post("/api/v1/nodes", {"name": "n", "address": "203.0.113.9"}, format="json").json()
    echoed = client.patch(f"/api/v1/nodes/{node['id']}", {**node, "status": "up", "name": "m"}, format="json")
    assert echoed.status_code == 200, echoed.content
    assert (echoed.json()["name"], echoed.json()["status"]) == ("m", "unknown")


def test_unknown_fields_of_a_nested_object_are_named_under_it(owner, tenant):
    client = bearer_client(owner, tenant)
    response = client.patch(f"/api/v1/tenants/{tenant.slug}", {"billing_account": {"vat_id": "DE1"}}, format="json")
    assert "vat_id" in refused(response)["billing_account"]


def test_a_person_and_a_staff_route_refuse_them_too(api_client, owner):
    details = refused(bearer_client(owner).patch("/api/v1/auth/me", {"name": "G", "email": "x@example.com"},
                                                 format="json"), "email")
    assert details["email"] == ["Unknown field. Fields accepted here: name."]
    staff = bearer_client(UserFactory(is_staff=True, is_superuser=True))
    refused(staff.post("/api/admin/plans", {"name": "P", "slug": "p", "rates": ["10/m"], "price": 5}, format="json"),
            "price")
    refused(api_client.post("/api/v1/auth/login", {"email": owner.email, "password": "x", "remember": True},
                            format="json"), "remember")


def test_query_strings_are_not_bodies(owner, tenant):
    response = bearer_client(owner, tenant).get("/api/v1/nodes?page_size=5&ordering=name&whatever=1")
    assert response.status_code == 200


def test_permissions_is_an_alias_of_scopes_on_create_and_update(owner, tenant):
    client = bearer_client(owner, tenant)
    created = client.post("/api/v1/api-keys", {"name": "rec", "permissions": ["read", "write"]}, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["scopes"] == ["read", "write"]
    assert "permissions" not in created.json()
    key_id = created.json()["id"]
    updated = client.patch(f"/api/v1/api-keys/{key_id}", {"permissions": ["read"]}, format="json")
    assert updated.status_code == 200, updated.content
    assert ApiKey.objects.get(pk=key_id).scopes == ["read"]
    same = client.patch(f"/api/v1/api-keys/{key_id}", {"scopes": ["write"], "permissions": ["write"]}, format="json")
    assert same.status_code == 200
    clash = client.patch(f"/api/v1/api-keys/{key_id}", {"scopes": ["read"], "permissions": ["write"]}, format="json")
    assert "permissions" in refused(clash)
    assert ApiKey.objects.get(pk=key_id).scopes == ["write"]
    beyond = client.post("/api/v1/api-keys", {"name": "x", "permissions": ["bogus"]}, format="json")
    assert "permissions" in refused(beyond)


def test_the_schema_documents_the_alias(client):
    schema = client.get("/api/schema", HTTP_ACCEPT="application/json").json()
    for name in ("ApiKeyCreateRequest", "PatchedApiKeyUpdateRequest"):
        properties = schema["components"]["schemas"][name]["properties"]
        assert "permissions" in properties and "alias" in properties["permissions"]["description"].lower()

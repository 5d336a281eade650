"""Key lifecycle through the HTTP layer: create once-shown secrets, list, revoke, rotate."""
from datetime import timedelta

import pytest
from django.utils import timezone

from apikeys.models import ApiKey
from core import credentials
from tenants.models import Tenant
from tenants.policy import Action
from tests.apikeys.conftest import key_client
from tests.apikeys.factories import make_key
from tests.conftest import bearer_client
from tests.matrix import Case, PermissionMatrix

pytestmark = pytest.mark.django_db


def _tamper_secret(secret: str) -> str:
    """Same public id, different secret, *valid* checksum: only the digest can tell."""
    prefix, public_id, tail = secret.split("_")
    body = f"{prefix}_{public_id}_{'A' * credentials.SECRET_LENGTH}"
    return body + credentials._checksum(body)


def test_it_shows_the_secret_once_on_create(tenant, owner):
    client = bearer_client(owner, tenant)
    response = client.post("/api/v1/api-keys", {"name": "ci", "scopes": ["read", "write"]}, format="json")
    assert response.status_code == 201
    body = response.json()
    secret = body["key"]
    assert secret.startswith(f"gsk_{body['prefix'][4:]}_")
    assert credentials.parse(secret) is not None
    stored = ApiKey.objects.get(pk=body["id"])
    assert stored.digest != secret and secret not in str(stored.__dict__)
    assert stored.created_by == owner

    listed = client.get("/api/v1/api-keys").json()["results"]
    detail = client.get(f"/api/v1/api-keys/{body['id']}").json()
    for row in (listed[0], detail):
        assert "key" not in row and "digest" not in row
        assert secret not in str(row)
        assert row["prefix"] == body["prefix"]
    # and the new key works
    assert key_client(secret).get("/api/v1/api-keys").status_code == 403  # read+write: not admin
    assert key_client(secret).get("/api/v1/analytics/api-calls").status_code == 200


def test_it_rejects_unknown_scopes_and_bad_rates(tenant, owner):
    client = bearer_client(owner, tenant)
    response = client.post("/api/v1/api-keys", {"name": "x", "scopes": ["read", "root"]}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert "scopes" in response.json()["error"]["details"]
    response = client.post("/api/v1/api-keys", {"name": "x", "scopes": ["read"], "rate_limit": "5/week"},
                           format="json")
    assert response.status_code == 400 and "rate_limit" in response.json()["error"]["details"]
    response = client.post("/api/v1/api-keys", {"name": "x", "scopes": []}, format="json")
    assert response.status_code == 400


def test_revoke_takes_effect_at_once_even_for_a_warm_key(tenant):
    key, secret = make_key(tenant)
    client = key_client(secret)
    assert client.get("/api/v1/api-keys").status_code == 200  # warms the snapshot cache
    assert client.delete(f"/api/v1/api-keys/{key.pk}").status_code == 204
    response = client.get("/api/v1/api-keys")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AUTHENTICATION_FAILED"
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_rotate_issues_a_new_secret_and_kills_the_old_one(tenant, owner):
    key, old_secret = make_key(tenant, scopes=["read"])
    assert key_client(old_secret).get("/api/v1/analytics/api-calls").status_code == 200  # warm
    response = bearer_client(owner, tenant).post(f"/api/v1/api-keys/{key.pk}/rotate")
    assert response.status_code == 200
    new_secret = response.json()["key"]
    assert new_secret != old_secret
    assert key_client(old_secret).get("/api/v1/analytics/api-calls").status_code == 401
    assert key_client(new_secret).get("/api/v1/analytics/api-calls").status_code == 200
    assert "key" not in bearer_client(owner, tenant).get(f"/api/v1/api-keys/{key.pk}").json()


def test_it_rejects_expired_and_tampered_keys(tenant):
    _, expired = make_key(tenant, expires_at=timezone.now() - timedelta(seconds=1))
    _, good = make_key(tenant)
    assert key_client(expired).get("/api/v1/api-keys").status_code == 401
    assert key_client(good).get("/api/v1/api-keys").status_code == 200
    flipped = good[:-8] + ("x" if good[-8] != "x" else "y") + good[-7:]  # checksum no longer matches
    assert key_client(flipped).get("/api/v1/api-keys").status_code == 401
    assert key_client(_tamper_secret(good)).get("/api/v1/api-keys").status_code == 401
    assert key_client(good, header="x-api-key").get("/api/v1/api-keys").status_code == 200


def test_it_never_lets_a_key_switch_tenant(tenant, other_tenant):
    _, secret = make_key(tenant)
    client = key_client(secret)
    response = client.get("/api/v1/api-keys", HTTP_X_TENANT=other_tenant.slug)
    assert response.status_code == 404
    assert client.get("/api/v1/api-keys", HTTP_X_TENANT=tenant.slug).status_code == 200


def test_it_rejects_foreign_tenant_key_objects(tenant, other_tenant):
    foreign, _ = make_key(other_tenant)
    _, secret = make_key(tenant)
    client = key_client(secret)
    for method in ("get", "patch", "delete"):
        assert getattr(client, method)(f"/api/v1/api-keys/{foreign.pk}", {}, format="json").status_code == 404
    assert client.post(f"/api/v1/api-keys/{foreign.pk}/rotate").status_code == 404
    foreign.refresh_from_db()
    assert foreign.revoked_at is None


def test_a_suspended_tenants_keys_get_403(tenant):
    _, secret = make_key(tenant)
    assert key_client(secret).get("/api/v1/api-keys").status_code == 200
    tenant.status = Tenant.Status.SUSPENDED
    tenant.save()
    response = key_client(secret).get("/api/v1/api-keys")
    assert response.status_code == 403 and response.json()["error"]["code"] == "FORBIDDEN"


KEY_PATH = "/api/v1/api-keys/{key}"


class TestKeyAndUsageEndpoints(PermissionMatrix):
    # The target key and new keys carry `admin` only: an admin-scoped key may mint and rotate
    # those (never keys above its own scopes: test_nobody_mints_a_key_above_their_own_rights).
    cases = [
        Case("keys.list", "get", "/api/v1/api-keys", Action.ADMINISTER, 200),
        Case("keys.create", "post", "/api/v1/api-keys", Action.ADMINISTER, 201, {"name": "n", "scopes": ["admin"]}),
        Case("keys.retrieve", "get", KEY_PATH, Action.ADMINISTER, 200),
        Case("keys.update", "patch", KEY_PATH, Action.ADMINISTER, 200, {"name": "m"}),
        Case("keys.rotate", "post", KEY_PATH + "/rotate", Action.ADMINISTER, 200),
        Case("keys.revoke", "delete", KEY_PATH, Action.ADMINISTER, 204),
        Case("usage.retrieve", "get", "/api/v1/usage", Action.READ, 200),
        Case("api_calls.list", "get", "/api/v1/analytics/api-calls", Action.READ, 200),
    ]

    def make_data(self, tenant, actor):
        return {"key": make_key(tenant, scopes=["admin"])[0].pk}


def test_nobody_mints_a_key_above_their_own_rights(tenant):
    _, admin_only = make_key(tenant, scopes=["admin"])
    client = key_client(admin_only)
    response = client.post("/api/v1/api-keys", {"name": "up", "scopes": ["execute"]}, format="json")
    assert response.status_code == 400
    assert "scopes" in response.json()["error"]["details"]
    stronger, _ = make_key(tenant, scopes=["admin", "execute"])
    assert client.post(f"/api/v1/api-keys/{stronger.pk}/rotate").status_code == 403
    assert client.patch(f"/api/v1/api-keys/{stronger.pk}", {"scopes": ["execute"]}, format="json").status_code == 400


def test_patch_changes_name_scopes_and_rate(tenant, owner):
    key, secret = make_key(tenant, scopes=["read"])
    response = bearer_client(owner, tenant).patch(
        f"/api/v1/api-keys/{key.pk}", {"name": "renamed", "scopes": ["read", "write"], "rate_limit": "5/m"},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["scopes"] == ["read", "write"] and response.json()["rate_limit"] == "5/m"
    assert key_client(secret).get("/api/v1/analytics/api-calls")["X-RateLimit-Limit"] == "5"


def test_a_revoked_key_cannot_be_changed(tenant, owner):
    key, _secret = make_key(tenant, scopes=["read"])
    client = bearer_client(owner, tenant)
    assert client.delete(f"/api/v1/api-keys/{key.pk}").status_code == 204
    response = client.patch(f"/api/v1/api-keys/{key.pk}", {"name": "back", "scopes": ["read", "write"]}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "CONFLICT"
    key.refresh_from_db()
    assert (key.name, key.scopes) != ("back", ["read", "write"])

"""The profile endpoint: read, rename, soft delete."""
import pytest

from accounts.models import User
from tenants.policy import Role
from tests.conftest import bearer_client
from tests.factories import DEFAULT_PASSWORD, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_me_shows_the_profile_fields_of_the_spec():
    user = UserFactory(name="Ada")
    body = bearer_client(user).get("/api/v1/auth/me/").json()
    assert body["id"] == str(user.pk)
    assert body["name"] == "Ada"
    assert body["type"] == "human"
    assert body["verification_status"] == "verified"
    assert body["status"] == "active"


def test_me_patch_renames_but_cannot_change_email_or_status():
    user = UserFactory()
    response = bearer_client(user).patch(
        "/api/v1/auth/me", {"name": "Grace", "email": "x@example.com", "status": "blocked"}, format="json"
    )
    assert response.status_code == 200
    user.refresh_from_db()
    assert (user.name, user.status) == ("Grace", "active")
    assert user.email != "x@example.com"


def test_me_delete_soft_deletes_and_the_account_cannot_sign_in(api_client):
    user = UserFactory()
    client = bearer_client(user)

    assert client.delete("/api/v1/auth/me").status_code == 204

    user.refresh_from_db()
    assert user.status == User.Status.DELETED
    assert client.get("/api/v1/auth/me").status_code == 401
    login = api_client.post("/api/v1/auth/login", {"email": user.email, "password": DEFAULT_PASSWORD}, format="json")
    assert login.status_code == 401


def test_the_sole_owner_of_a_tenant_cannot_delete_their_account():
    membership = MembershipFactory(role=Role.OWNER)
    response = bearer_client(membership.user).delete("/api/v1/auth/me")
    assert response.status_code == 409
    assert membership.tenant.slug in response.json()["error"]["message"]


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_me_needs_authentication(api_client, method):
    response = getattr(api_client, method)("/api/v1/auth/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AUTHENTICATION_FAILED"

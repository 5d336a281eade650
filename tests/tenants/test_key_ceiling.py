"""A credential never makes anyone stronger than itself. An API key is not a member: it grants
at most `member`, and only a role whose rights its own scopes cover (so an `admin`-only key
grants `viewer`); it cannot change or remove anyone above that either."""
import pytest
from rest_framework.test import APIClient

from tenants.models import Invitation, Membership
from tenants.policy import Role, key_role_ceiling
from tests.conftest import bearer_client
from tests.factories import MembershipFactory, UserFactory
from tests.tenants.factories import api_key_for

pytestmark = pytest.mark.django_db
ALL_SCOPES = ["read", "write", "execute", "admin"]


def key_client(tenant, scopes) -> APIClient:
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(tenant, scopes)}")
    return client


@pytest.mark.parametrize(
    ("scopes", "ceiling"),
    [
        (["admin"], Role.VIEWER),
        (["read", "admin"], Role.VIEWER),
        (["write", "admin"], Role.MEMBER),
        (ALL_SCOPES, Role.MEMBER),
    ],
)
def test_a_keys_ceiling_follows_its_scopes_and_stops_at_member(scopes, ceiling):
    assert key_role_ceiling(scopes) == ceiling


@pytest.mark.parametrize(
    ("scopes", "role", "expected"),
    [
        (["admin"], "admin", 403),  # the probe: an admin-scope key inviting an account it controls
        (["admin"], "operator", 403),
        (["admin"], "member", 403),  # a member may write; this key may not
        (["admin"], "viewer", 201),
        (ALL_SCOPES, "owner", 403),
        (ALL_SCOPES, "admin", 403),
        (ALL_SCOPES, "operator", 403),
        (ALL_SCOPES, "member", 201),
    ],
)
def test_a_key_invites_no_one_above_its_ceiling(tenant, scopes, role, expected):
    client = key_client(tenant, scopes)
    response = client.post(
        f"/api/v1/tenants/{tenant.slug}/invitations", {"email": "friend@example.com", "role": role}, format="json"
    )
    assert response.status_code == expected, response.content
    assert Invitation.objects.filter(tenant=tenant).exists() is (expected == 201)


@pytest.mark.parametrize("role", ["admin", "operator"])
def test_a_key_cannot_promote_a_member_above_its_ceiling(tenant, owner, role):
    target = MembershipFactory(tenant=tenant, role=Role.VIEWER)
    client = key_client(tenant, ALL_SCOPES)

    response = client.patch(f"/api/v1/tenants/{tenant.slug}/members/{target.user_id}", {"role": role}, format="json")

    assert response.status_code == 403
    target.refresh_from_db()
    assert target.role == Role.VIEWER


def test_a_key_cannot_demote_or_remove_someone_above_its_ceiling(tenant, owner):
    admin = MembershipFactory(tenant=tenant, role=Role.ADMIN)
    client = key_client(tenant, ALL_SCOPES)
    url = f"/api/v1/tenants/{tenant.slug}/members/{admin.user_id}"

    assert client.patch(url, {"role": "viewer"}, format="json").status_code == 403
    assert client.delete(url).status_code == 403
    admin.refresh_from_db()
    assert admin.role == Role.ADMIN


def test_a_key_still_manages_members_up_to_its_ceiling(tenant, owner):
    target = MembershipFactory(tenant=tenant, role=Role.VIEWER)
    client = key_client(tenant, ALL_SCOPES)
    url = f"/api/v1/tenants/{tenant.slug}/members/{target.user_id}"

    assert client.patch(url, {"role": "member"}, format="json").status_code == 200
    assert client.delete(url).status_code == 204
    assert not Membership.objects.filter(pk=target.pk).exists()


def test_an_admin_member_grants_admin_but_never_owner(tenant, owner, make_member):
    client = bearer_client(make_member(tenant, Role.ADMIN))
    url = f"/api/v1/tenants/{tenant.slug}/invitations"
    assert client.post(url, {"email": UserFactory.build().email, "role": "admin"}, format="json").status_code == 201
    assert client.post(url, {"email": "boss@example.com", "role": "owner"}, format="json").status_code == 403

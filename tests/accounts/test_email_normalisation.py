"""E-mail addresses are normalised one way everywhere (NFKC, upper-case, case-fold, NFKC:
`accounts.addresses.normalize_email`): look-alikes that Django's validator accepts (dotless
`ı`, long `ſ`, Kelvin `K`) are the same address for lookups, uniqueness, rate-limit buckets
and invitations, on SQLite and PostgreSQL alike."""
import importlib

import pytest
from django.apps import apps
from django.db import connection

from accounts.addresses import normalize_email
from accounts.models import User
from tenants import services as tenant_services
from tenants.models import Invitation
from tenants.policy import Role
from tests.conftest import bearer_client
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db
REAL = "kiss.inv@example.com"
LOOK_ALIKES = ["kıss.inv@example.com", "kiſs.inv@example.com", "\u212aiss.ınv@Example.COM"]


def login(client, email, password="wrong-password-x", ip="10.0.0.1"):
    return client.post("/api/v1/auth/login", {"email": email, "password": password}, format="json", REMOTE_ADDR=ip)


@pytest.mark.parametrize("address", LOOK_ALIKES)
def test_look_alikes_normalise_to_the_real_address(address):
    assert normalize_email(address) == REAL
    assert normalize_email(normalize_email(address)) == REAL


def test_look_alikes_spend_the_real_addresses_login_budget(api_client, settings):
    settings.AUTH_RATE_LIMIT = "3/m"
    settings.AUTH_IP_RATE_LIMIT = "100/m"
    UserFactory(email=REAL)
    statuses = [login(api_client, address, ip=f"10.0.2.{n}").status_code for n, address in enumerate(LOOK_ALIKES)]

    assert statuses == [401, 401, 401]
    assert login(api_client, REAL, DEFAULT_PASSWORD, ip="10.0.9.9").status_code == 429


def test_look_alikes_spend_the_real_addresses_reset_budget(api_client, settings):
    settings.AUTH_RATE_LIMIT = "3/m"
    for address in LOOK_ALIKES:
        assert api_client.post("/api/v1/auth/password/reset", {"email": address}, format="json").status_code == 202
    assert api_client.post("/api/v1/auth/password/reset", {"email": REAL}, format="json").status_code == 429


@pytest.mark.parametrize("address", LOOK_ALIKES)
def test_registering_a_look_alike_of_an_existing_address_is_refused(api_client, address):
    UserFactory(email=REAL)
    response = api_client.post(
        "/api/v1/auth/register", {"email": address, "password": DEFAULT_PASSWORD}, format="json"
    )
    assert response.status_code == 400
    assert "email" in response.json()["error"]["details"]
    assert User.objects.count() == 1


def test_a_look_alike_registered_first_is_the_real_address_and_blocks_no_one_else(api_client):
    """The squatter's account is the real address's (its verification mail goes there)."""
    response = api_client.post(
        "/api/v1/auth/register", {"email": LOOK_ALIKES[0], "password": DEFAULT_PASSWORD}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["email"] == REAL
    assert User.objects.get().email == REAL


def test_signing_in_with_a_look_alike_opens_the_same_account(api_client):
    user = UserFactory(email=REAL)

    response = login(api_client, LOOK_ALIKES[2], DEFAULT_PASSWORD)

    assert response.status_code == 200, response.content
    me = bearer_client(user)
    me.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
    assert me.get("/api/v1/auth/me").json()["id"] == str(user.pk)
    assert User.objects.count() == 1


def test_the_admin_backend_finds_the_account_by_a_look_alike():
    user = UserFactory(email=REAL)
    assert User.objects.get_by_natural_key(LOOK_ALIKES[1]) == user


def test_invitations_use_the_same_normalisation(tenant, owner):
    member = UserFactory(email=REAL)
    invitation = tenant_services.invitation_create(
        tenant=tenant, email=LOOK_ALIKES[0], role=Role.MEMBER, actor=owner, actor_role=Role.OWNER
    )
    assert invitation.email == REAL

    membership = tenant_services.invitation_accept(token=tenant_services.invitation_token(invitation), user=member)

    assert membership.user == member
    again = bearer_client(owner).post(
        f"/api/v1/tenants/{tenant.slug}/invitations", {"email": LOOK_ALIKES[1]}, format="json"
    )
    assert again.status_code == 409  # already a member, whatever the spelling


def test_the_data_migration_normalises_existing_rows_and_leaves_collisions_alone(tenant):
    first = UserFactory(email="first@example.com")
    squatter = UserFactory(email="second@example.com")
    plain = UserFactory(email="plain@example.com")
    invitation = Invitation.objects.create(
        tenant=tenant, email="x@example.com", role=Role.MEMBER, token_digest="d" * 64,
        expires_at="2099-01-01T00:00:00Z",
    )
    with connection.cursor() as cursor:  # rows written before normalisation existed
        cursor.execute("UPDATE accounts_user SET email = %s WHERE id = %s", ["Kiss.Inv@Example.com", first.pk.hex])
        cursor.execute("UPDATE accounts_user SET email = %s WHERE id = %s", [LOOK_ALIKES[0], squatter.pk.hex])
        cursor.execute("UPDATE tenants_invitation SET email = %s WHERE id = %s", [LOOK_ALIKES[1], invitation.pk.hex])
    migration = importlib.import_module("accounts.migrations.0002_normalise_emails")

    migration.normalise_emails(apps, None)

    emails = dict(User.objects.values_list("pk", "email"))
    assert emails[first.pk] == REAL  # the older row keeps the address
    assert emails[squatter.pk] == LOOK_ALIKES[0]  # a collision is left as it was, for staff to look at
    assert emails[plain.pk] == "plain@example.com"
    invitation.refresh_from_db()
    assert invitation.email == REAL

"""The profile endpoint: read, rename, soft delete."""
import threading
import time

import pytest
from django.db import connection, connections, transaction

from accounts.models import PersonalAccessToken, User
from accounts.services import personal_token_create
from tenants.policy import Role
from tests.conftest import bearer_client
from tests.factories import DEFAULT_PASSWORD, MembershipFactory, TenantFactory, UserFactory

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
    client = bearer_client(user)
    response = client.patch(
        "/api/v1/auth/me", {"name": "Grace", "email": "x@example.com", "status": "blocked"}, format="json"
    )
    assert response.status_code == 400  # refused, naming the fields /me cannot change
    assert set(response.json()["error"]["details"]) == {"email", "status"}
    user.refresh_from_db()
    assert (user.name, user.status) != ("Grace", "blocked")
    assert client.patch("/api/v1/auth/me", {"name": "Grace"}, format="json").status_code == 200
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


def _wait_for_lock_waiters(count: int, timeout: float = 30.0) -> None:
    """Until `count` sessions of this database wait on a lock (each query its own snapshot)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0] >= count:
                return
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} sessions ever waited on a lock")


@pytest.mark.django_db(transaction=True)
def test_two_owners_deleting_their_accounts_at_once_leave_one_owner():
    """Both deletions are held (by a lock on their personal tokens, which deletion revokes) after
    they would have read the owner count, so without the tenant lock both pass the check."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks are exercised on PostgreSQL (CI); SQLite runs one writer at a time")
    tenant = TenantFactory()
    owners = [MembershipFactory(tenant=tenant, role=Role.OWNER).user for _ in range(2)]
    for user in owners:
        personal_token_create(user=user, name="ci")
    clients = [bearer_client(user) for user in owners]
    holding, release = threading.Event(), threading.Event()
    statuses: list[int] = []

    def hold_tokens():
        try:
            with transaction.atomic():
                list(PersonalAccessToken.objects.select_for_update().filter(user__in=owners))
                holding.set()
                release.wait(timeout=60)
        finally:
            connections.close_all()

    def delete(client):
        try:
            statuses.append(client.delete("/api/v1/auth/me").status_code)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_tokens)
    holder.start()
    assert holding.wait(timeout=30)
    deleters = [threading.Thread(target=delete, args=(client,)) for client in clients]
    for thread in deleters:
        thread.start()
    try:
        _wait_for_lock_waiters(2)
    finally:
        release.set()
        for thread in [holder, *deleters]:
            thread.join(timeout=60)

    assert sorted(statuses) == [204, 409]
    alive = User.objects.filter(pk__in=[u.pk for u in owners]).exclude(status=User.Status.DELETED)
    assert alive.count() == 1

"""Password hashing never runs inside a write transaction.

On the embedded SQLite a transaction holds the database's single write lock from BEGIN
(IMMEDIATE), so hashing inside one would make the worker, beat and every other request wait
for it. The hasher below is a real one (MD5, as in the other account tests) that notes whether
a transaction was open each time it hashed or checked a password.
"""
import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.db import connection

from tests.accounts.conftest import token_from
from tests.factories import DEFAULT_PASSWORD, UserFactory

NEW_PASSWORD = "brand-new-passphrase-for-2026"
HASHED_IN_TRANSACTION: list[bool] = []


class TransactionNotingHasher(MD5PasswordHasher):
    def encode(self, password, salt):
        HASHED_IN_TRANSACTION.append(connection.in_atomic_block)
        return super().encode(password, salt)


@pytest.fixture
def noting_hasher(settings, outbox):
    settings.PASSWORD_HASHERS = [f"{__name__}.TransactionNotingHasher"]
    HASHED_IN_TRANSACTION.clear()
    return HASHED_IN_TRANSACTION


def _login(client, email, password=DEFAULT_PASSWORD):
    return client.post("/api/v1/auth/login", {"email": email, "password": password}, format="json")


def test_register_hashes_the_password_before_its_transaction(api_client, noting_hasher):
    response = api_client.post(
        "/api/v1/auth/register", {"email": "new@example.com", "password": NEW_PASSWORD}, format="json"
    )
    assert response.status_code == 201, response.content
    assert noting_hasher and not any(noting_hasher)


def test_login_checks_the_password_outside_any_transaction(api_client, noting_hasher):
    user = UserFactory()
    noting_hasher.clear()
    assert _login(api_client, user.email).status_code == 200
    assert _login(api_client, user.email, "wrong-password").status_code == 401
    assert _login(api_client, "unknown@example.com").status_code == 401
    assert len(noting_hasher) == 3 and not any(noting_hasher)


def test_password_change_hashes_outside_its_transaction(api_client, noting_hasher):
    user = UserFactory()
    access = _login(api_client, user.email).json()["access"]
    noting_hasher.clear()
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    response = api_client.post(
        "/api/v1/auth/password/change",
        {"old_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert len(noting_hasher) >= 2 and not any(noting_hasher)  # the old checked, the new hashed
    api_client.credentials()
    assert _login(api_client, user.email, NEW_PASSWORD).status_code == 200


def test_password_reset_confirm_hashes_outside_its_transaction_and_works_once(api_client, noting_hasher, outbox):
    user = UserFactory()
    api_client.post("/api/v1/auth/password/reset", {"email": user.email}, format="json")
    token = token_from(outbox[-1])
    noting_hasher.clear()
    body = {"token": token, "new_password": NEW_PASSWORD}
    assert api_client.post("/api/v1/auth/password/reset/confirm", body, format="json").status_code == 200
    assert noting_hasher and not any(noting_hasher)
    again = api_client.post("/api/v1/auth/password/reset/confirm", body, format="json")
    assert again.status_code == 400
    assert _login(api_client, user.email, NEW_PASSWORD).status_code == 200

"""Registration, e-mail verification and the login gate, end to end through the outbox."""
import pytest
from django.contrib.auth.hashers import identify_hasher
from django.core import mail

from accounts.models import User
from tests.accounts.conftest import token_from, wait_for_mail
from tests.factories import UserFactory

PASSWORD = "a-long-and-unusual-passphrase-17"


def register(client, email="new@example.com", password=PASSWORD, name="New Person"):
    return client.post("/api/v1/auth/register", {"email": email, "password": password, "name": name}, format="json")


def test_it_registers_a_user_and_sends_a_verification_email(api_client, outbox):
    response = register(api_client)

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["email"] == "new@example.com"
    assert body["verification_status"] == "not_verified"
    assert body["status"] == "active"
    assert set(body) == {"id", "email", "name", "type", "verification_status", "status", "created_at", "updated_at"}
    assert len(outbox) == 1
    message = outbox[0]
    assert message.to == ["new@example.com"]
    assert "http://testserver/auth/verify-email?token=" in message.body
    assert message.alternatives and "Verify e-mail address" in message.alternatives[0][0]


def test_it_refuses_login_until_the_email_is_verified_then_allows_it(api_client, outbox):
    register(api_client)
    login = {"email": "new@example.com", "password": PASSWORD}

    refused = api_client.post("/api/v1/auth/login", login, format="json")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "EMAIL_NOT_VERIFIED"

    verified = api_client.post("/api/v1/auth/verify-email", {"token": token_from(outbox[0])}, format="json")
    assert verified.status_code == 200
    assert verified.json()["verification_status"] == "verified"

    accepted = api_client.post("/api/v1/auth/login", login, format="json")
    assert accepted.status_code == 200
    assert accepted.json()["token_type"] == "Bearer"


@pytest.mark.worker
def test_it_delivers_the_verification_email_through_a_real_worker(api_client, live_worker):
    mail.outbox = []
    assert register(api_client, email="worker@example.com").status_code == 201

    wait_for_mail(1)
    assert [m.to for m in mail.outbox] == [["worker@example.com"]]
    response = api_client.post("/api/v1/auth/verify-email", {"token": token_from(mail.outbox[0])}, format="json")
    assert response.status_code == 200
    assert User.objects.get(email="worker@example.com").verification_status == "verified"


def test_it_allows_login_without_verification_when_not_required(api_client, outbox, settings):
    settings.REQUIRE_EMAIL_VERIFICATION = False
    register(api_client)
    response = api_client.post("/api/v1/auth/login", {"email": "NEW@example.com", "password": PASSWORD}, format="json")
    assert response.status_code == 200


@pytest.mark.django_db
def test_it_rejects_a_duplicate_email_case_insensitively(api_client):
    UserFactory(email="taken@example.com")
    response = register(api_client, email="Taken@Example.com")
    assert response.status_code == 400
    assert "email" in response.json()["error"]["details"]


@pytest.mark.django_db
@pytest.mark.parametrize("password", ["short", "password123", "12345678901"])
def test_it_rejects_weak_passwords_with_djangos_validators(api_client, password):
    response = register(api_client, password=password)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert "password" in response.json()["error"]["details"]


@pytest.mark.django_db
def test_it_stores_only_a_password_hash(api_client):
    register(api_client)
    user = User.objects.get(email="new@example.com")
    assert identify_hasher(user.password).algorithm
    assert PASSWORD not in user.password
    assert user.check_password(PASSWORD)


@pytest.mark.django_db
@pytest.mark.parametrize("token", ["", "garbage", "eyJ1Ijo.forged.sig"])
def test_it_rejects_an_invalid_verification_token(api_client, token):
    response = api_client.post("/api/v1/auth/verify-email", {"token": token}, format="json")
    assert response.status_code == 400


def test_a_verification_token_dies_when_the_address_changes(api_client, outbox):
    register(api_client)
    User.objects.filter(email="new@example.com").update(email="changed@example.com")
    response = api_client.post("/api/v1/auth/verify-email", {"token": token_from(outbox[0])}, format="json")
    assert response.status_code == 400


@pytest.mark.django_db
def test_register_works_with_a_trailing_slash_and_malformed_json_is_an_envelope(api_client):
    ok = api_client.post(
        "/api/v1/auth/register/", {"email": "slash@example.com", "password": PASSWORD}, format="json"
    )
    assert ok.status_code == 201
    bad = api_client.post("/api/v1/auth/register", "{not json", content_type="application/json")
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "VALIDATION_ERROR"

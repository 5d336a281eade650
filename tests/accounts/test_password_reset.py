"""Password reset: 202 for any address, a single-use link by e-mail, sessions die."""
import pytest

from accounts.services import personal_token_create
from tests.accounts.conftest import token_from
from tests.factories import DEFAULT_PASSWORD, UserFactory

NEW_PASSWORD = "brand-new-passphrase-for-2026"


def request_reset(client, email):
    return client.post("/api/v1/auth/password/reset", {"email": email}, format="json")


def confirm(client, token, password=NEW_PASSWORD):
    return client.post(
        "/api/v1/auth/password/reset/confirm", {"token": token, "new_password": password}, format="json"
    )


def test_it_answers_202_for_known_and_unknown_addresses_and_mails_only_the_known(api_client, outbox):
    user = UserFactory()

    known = request_reset(api_client, user.email.upper())
    unknown = request_reset(api_client, "nobody@example.com")

    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    assert [m.to for m in outbox] == [[user.email]]
    assert "http://testserver/auth/password/reset?token=" in outbox[0].body


def test_the_reset_link_sets_the_password_once_and_kills_sessions(api_client, outbox):
    user = UserFactory()
    session = api_client.post(
        "/api/v1/auth/login", {"email": user.email, "password": DEFAULT_PASSWORD}, format="json"
    ).json()
    request_reset(api_client, user.email)
    token = token_from(outbox[0])

    assert confirm(api_client, token).status_code == 200

    assert confirm(api_client, token, "yet-another-passphrase-77").status_code == 400  # single use
    refreshed = api_client.post("/api/v1/auth/refresh", {"refresh": session["refresh"]}, format="json")
    assert refreshed.status_code == 401
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {session['access']}")
    assert api_client.get("/api/v1/auth/me").status_code == 401
    api_client.credentials()
    login = api_client.post("/api/v1/auth/login", {"email": user.email, "password": NEW_PASSWORD}, format="json")
    assert login.status_code == 200


def test_a_reset_revokes_personal_tokens(api_client, outbox):
    user = UserFactory()
    _token, raw = personal_token_create(user=user, name="laptop")
    request_reset(api_client, user.email)

    assert confirm(api_client, token_from(outbox[0])).status_code == 200

    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert api_client.get("/api/v1/auth/me").status_code == 401


def test_a_reset_is_validated_by_djangos_password_validators(api_client, outbox):
    user = UserFactory()
    request_reset(api_client, user.email)
    response = confirm(api_client, token_from(outbox[0]), "123")
    assert response.status_code == 400
    assert "new_password" in response.json()["error"]["details"]


@pytest.mark.django_db
@pytest.mark.parametrize("token", ["", "abc", "Zm9v.bad-token", "....."])
def test_a_forged_reset_token_is_refused(api_client, token):
    UserFactory()
    assert confirm(api_client, token).status_code == 400


def test_blocked_accounts_get_no_reset_mail(api_client, outbox):
    user = UserFactory(status="blocked")
    assert request_reset(api_client, user.email).status_code == 202
    assert outbox == []

"""JWT sessions: login, rotation with blacklisting, logout, and every forged or stale token."""
import threading
from datetime import timedelta

import jwt
import pytest
from django.db import connection
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts.models import User
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db
ME = "/api/v1/auth/me"


def login(client, user, password=DEFAULT_PASSWORD):
    return client.post("/api/v1/auth/login", {"email": user.email, "password": password}, format="json")


def bearer(token: str) -> APIClient:
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def user():
    return UserFactory()


def test_login_returns_the_session_shape_and_the_access_token_works(api_client, user):
    response = login(api_client, user)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access", "refresh", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 15 * 60
    me = bearer(body["access"]).get(ME)
    assert me.status_code == 200
    assert me.json()["email"] == user.email


@pytest.mark.parametrize(
    "email, password",
    [("user@nowhere.example", DEFAULT_PASSWORD), (None, "wrong-password-entirely")],
)
def test_it_refuses_a_wrong_password_or_unknown_email_alike(api_client, user, email, password):
    response = api_client.post(
        "/api/v1/auth/login", {"email": email or user.email, "password": password}, format="json"
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AUTHENTICATION_FAILED"
    assert response.json()["error"]["message"] == "Invalid e-mail or password."


@pytest.mark.parametrize("status", [User.Status.BLOCKED, User.Status.INACTIVE, User.Status.DELETED])
def test_it_refuses_login_of_an_account_that_is_not_active(api_client, status):
    user = UserFactory(status=status)
    assert login(api_client, user).status_code == 401


def test_the_signing_algorithm_is_fixed_and_alg_none_is_refused(user):
    payload = AccessToken.for_user(user).payload
    unsigned = jwt.encode(dict(payload), key=None, algorithm="none")
    assert bearer(unsigned).get(ME).status_code == 401


def test_a_token_with_a_wrong_signature_is_refused(user):
    payload = AccessToken.for_user(user).payload
    forged = jwt.encode(dict(payload), key="not-the-signing-key-but-long-enough-1234", algorithm="HS256")
    assert bearer(forged).get(ME).status_code == 401


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_a_token_signed_with_another_algorithm_family_is_refused(user):
    payload = AccessToken.for_user(user).payload
    from django.conf import settings

    forged = jwt.encode(dict(payload), key=settings.SIMPLE_JWT["SIGNING_KEY"], algorithm="HS512")
    assert bearer(forged).get(ME).status_code == 401


def test_an_expired_access_token_is_refused(user):
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=-timedelta(seconds=30))
    response = bearer(str(token)).get(ME)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AUTHENTICATION_FAILED"


def test_a_refresh_token_is_not_an_access_token(user):
    assert bearer(str(RefreshToken.for_user(user))).get(ME).status_code == 401


@pytest.mark.parametrize("status", [User.Status.BLOCKED, User.Status.DELETED, User.Status.INACTIVE])
def test_tokens_of_a_blocked_or_deleted_user_are_refused(api_client, user, status):
    session = login(api_client, user).json()
    User.objects.filter(pk=user.pk).update(status=status)

    assert bearer(session["access"]).get(ME).status_code == 401
    refreshed = api_client.post("/api/v1/auth/refresh", {"refresh": session["refresh"]}, format="json")
    assert refreshed.status_code == 401


def test_refresh_rotates_and_the_old_refresh_token_is_dead(api_client, user):
    session = login(api_client, user).json()

    first = api_client.post("/api/v1/auth/refresh", {"refresh": session["refresh"]}, format="json")
    assert first.status_code == 200
    rotated = first.json()
    assert rotated["refresh"] != session["refresh"]
    assert bearer(rotated["access"]).get(ME).status_code == 200

    reuse = api_client.post("/api/v1/auth/refresh", {"refresh": session["refresh"]}, format="json")
    assert reuse.status_code == 401
    assert reuse.json()["error"]["code"] == "AUTHENTICATION_FAILED"
    assert api_client.post("/api/v1/auth/refresh/", {"refresh": rotated["refresh"]}, format="json").status_code == 200


def test_logout_kills_the_refresh_token(api_client, user):
    session = login(api_client, user).json()

    assert api_client.post("/api/v1/auth/logout", {"refresh": session["refresh"]}, format="json").status_code == 204
    after = api_client.post("/api/v1/auth/refresh", {"refresh": session["refresh"]}, format="json")
    assert after.status_code == 401


@pytest.mark.parametrize("body", [{}, {"refresh": "nonsense"}, {"refresh": 12}])
def test_refresh_and_logout_reject_garbage_without_a_500(api_client, body):
    assert api_client.post("/api/v1/auth/refresh", body, format="json").status_code in (400, 401)
    assert api_client.post("/api/v1/auth/logout", body, format="json").status_code in (400, 401)


def test_a_password_change_kills_every_session_and_returns_a_fresh_one(api_client, user):
    first = login(api_client, user).json()
    second = login(api_client, user).json()
    new_password = "another-long-passphrase-93"

    response = bearer(first["access"]).post(
        "/api/v1/auth/password/change",
        {"old_password": DEFAULT_PASSWORD, "new_password": new_password},
        format="json",
    )

    assert response.status_code == 200
    for old in (first, second):
        assert bearer(old["access"]).get(ME).status_code == 401
        assert api_client.post("/api/v1/auth/refresh", {"refresh": old["refresh"]}, format="json").status_code == 401
    assert bearer(response.json()["access"]).get(ME).status_code == 200
    assert login(api_client, user).status_code == 401
    assert login(api_client, user, new_password).status_code == 200


def test_a_password_change_needs_the_current_password(user):
    client = bearer(str(AccessToken.for_user(user)))
    response = client.post(
        "/api/v1/auth/password/change",
        {"old_password": "not-it", "new_password": "another-long-passphrase-93"},
        format="json",
    )
    assert response.status_code == 400
    assert "old_password" in response.json()["error"]["details"]


def test_the_signing_key_can_differ_from_secret_key(api_client, user, settings):
    """A token signed with SECRET_KEY is refused once JWT_SIGNING_KEY is a different key."""
    from rest_framework_simplejwt.settings import api_settings
    from rest_framework_simplejwt.state import token_backend

    assert settings.SIMPLE_JWT["SIGNING_KEY"]
    forged = jwt.encode(
        dict(AccessToken.for_user(user).payload), key=settings.SECRET_KEY + "-other", algorithm="HS256"
    )
    assert bearer(forged).get(ME).status_code == 401
    assert token_backend.algorithm == api_settings.ALGORITHM == "HS256"


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_refreshes_of_one_token_yield_at_most_one_success(user):
    if connection.vendor != "postgresql":
        pytest.skip("row-level concurrency is exercised on PostgreSQL (CI); SQLite serialises writers")
    refresh = login(APIClient(), user).json()["refresh"]
    barrier = threading.Barrier(4)
    statuses: list[int] = []

    def attempt():
        from django.db import connections

        client = APIClient(raise_request_exception=False)
        barrier.wait()
        try:
            statuses.append(client.post("/api/v1/auth/refresh", {"refresh": refresh}, format="json").status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [200, 401, 401, 401]


def test_the_periodic_flush_drops_only_expired_refresh_token_rows(user):
    from django.utils import timezone
    from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

    from accounts.tasks import flush_expired_sessions

    live = RefreshToken.for_user(user)
    stale = RefreshToken.for_user(user)
    OutstandingToken.objects.filter(jti=stale["jti"]).update(expires_at=timezone.now() - timedelta(seconds=1))

    flush_expired_sessions()

    assert list(OutstandingToken.objects.values_list("jti", flat=True)) == [live["jti"]]


def test_logout_kills_that_sessions_access_token_too(api_client, user):
    session = login(api_client, user).json()
    assert bearer(session["access"]).get(ME).status_code == 200

    assert api_client.post("/api/v1/auth/logout", {"refresh": session["refresh"]}, format="json").status_code == 204

    response = bearer(session["access"]).get(ME)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AUTHENTICATION_FAILED"


def test_after_a_logout_other_sessions_refresh_once_and_go_on(api_client, user):
    """Logout bumps the account's session version: every access token issued before it fails,
    but the other sessions' refresh tokens still work and mint access tokens that do."""
    leaving, staying = login(api_client, user).json(), login(api_client, user).json()
    api_client.post("/api/v1/auth/logout", {"refresh": leaving["refresh"]}, format="json")

    assert bearer(staying["access"]).get(ME).status_code == 401
    renewed = api_client.post("/api/v1/auth/refresh", {"refresh": staying["refresh"]}, format="json")
    assert renewed.status_code == 200
    assert bearer(renewed.json()["access"]).get(ME).status_code == 200
    assert api_client.post("/api/v1/auth/refresh", {"refresh": leaving["refresh"]}, format="json").status_code == 401


def test_a_password_change_revokes_personal_tokens(user):
    client = bearer(str(AccessToken.for_user(user)))
    token = client.post("/api/v1/auth/tokens", {"name": "ci"}, format="json").json()["token"]
    assert bearer(token).get(ME).status_code == 200

    changed = client.post(
        "/api/v1/auth/password/change",
        {"old_password": DEFAULT_PASSWORD, "new_password": "a-whole-new-passphrase-9"}, format="json",
    )

    assert changed.status_code == 200
    assert bearer(token).get(ME).status_code == 401
    assert bearer(changed.json()["access"]).get("/api/v1/auth/tokens").json()["count"] == 0

"""Personal access tokens: shown once, stored as a digest, act as the user, revocable."""
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import PersonalAccessToken
from core.models import AuditEvent
from tests.conftest import bearer_client
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
TOKENS = "/api/v1/auth/tokens"


def pat_client(raw: str, header: str = "bearer") -> APIClient:
    client = APIClient(raise_request_exception=False)
    if header == "bearer":
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    else:
        client.credentials(HTTP_X_API_KEY=raw)
    return client


@pytest.fixture
def user():
    return UserFactory()


def create(user, **body):
    return bearer_client(user).post(TOKENS, {"name": "ci", **body}, format="json")


def test_the_secret_is_returned_once_and_only_a_digest_is_stored(user):
    response = create(user)

    assert response.status_code == 201
    body = response.json()
    raw = body["token"]
    assert raw.startswith("gsp_") and body["prefix"] in raw
    row = PersonalAccessToken.objects.get(pk=body["id"])
    assert raw not in (row.digest, row.public_id) and len(row.digest) == 64
    listed = bearer_client(user).get(TOKENS).json()
    assert listed["count"] == 1
    assert "token" not in listed["results"][0]
    assert raw not in str(listed)
    assert AuditEvent.objects.filter(action="personal_token.create", actor=user).exists()


@pytest.mark.parametrize("header", ["bearer", "x-api-key"])
def test_a_token_acts_as_its_user_and_records_last_use(user, header):
    raw = create(user).json()["token"]

    me = pat_client(raw, header).get("/api/v1/auth/me")

    assert me.status_code == 200
    assert me.json()["id"] == str(user.pk)
    assert PersonalAccessToken.objects.get(user=user).last_used_at is not None


def test_last_used_at_is_written_at_most_once_a_minute(user):
    raw = create(user).json()["token"]
    client = pat_client(raw)
    client.get("/api/v1/auth/me")
    first = PersonalAccessToken.objects.get(user=user).last_used_at
    client.get("/api/v1/auth/me")
    assert PersonalAccessToken.objects.get(user=user).last_used_at == first

    PersonalAccessToken.objects.filter(user=user).update(last_used_at=first - timedelta(minutes=2))
    client.get("/api/v1/auth/me")
    assert PersonalAccessToken.objects.get(user=user).last_used_at > first


def test_delete_revokes_the_token_at_once(user):
    body = create(user).json()

    assert bearer_client(user).delete(f"{TOKENS}/{body['id']}").status_code == 204

    assert pat_client(body["token"]).get("/api/v1/auth/me").status_code == 401
    assert bearer_client(user).get(TOKENS).json()["count"] == 0
    assert AuditEvent.objects.filter(action="personal_token.revoke").exists()


def test_an_expired_token_is_refused(user):
    body = create(user, expires_at=(timezone.now() + timedelta(days=1)).isoformat()).json()
    PersonalAccessToken.objects.filter(pk=body["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert pat_client(body["token"]).get("/api/v1/auth/me").status_code == 401


def test_expiry_must_be_in_the_future(user):
    response = create(user, expires_at=(timezone.now() - timedelta(days=1)).isoformat())
    assert response.status_code == 400
    assert "expires_at" in response.json()["error"]["details"]


@pytest.mark.parametrize(
    "mangle", [lambda raw: raw[:-1] + ("A" if raw[-1] != "A" else "B"), lambda raw: raw[:20], lambda raw: raw + "x"]
)
def test_a_tampered_token_is_refused(user, mangle):
    raw = create(user).json()["token"]
    assert pat_client(mangle(raw)).get("/api/v1/auth/me").status_code == 401


def test_a_blocked_users_token_is_refused(user):
    raw = create(user).json()["token"]
    user.status = "blocked"
    user.save()
    assert pat_client(raw).get("/api/v1/auth/me").status_code == 401


def test_nobody_sees_or_revokes_another_users_tokens(user):
    body = create(user).json()
    stranger = bearer_client(UserFactory())

    assert stranger.get(TOKENS).json()["count"] == 0
    assert stranger.delete(f"{TOKENS}/{body['id']}").status_code == 404
    assert pat_client(body["token"]).get("/api/v1/auth/me").status_code == 200


def test_tokens_need_a_signed_in_user(api_client):
    assert api_client.get(TOKENS).status_code == 401
    assert api_client.post(TOKENS, {"name": "x"}, format="json").status_code == 401

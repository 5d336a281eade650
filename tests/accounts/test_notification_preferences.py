"""`GET / PATCH /api/v1/auth/me/notifications`: categories default on, security always on."""
import pytest
from rest_framework.test import APIClient

from notifications.selectors import wants_email
from tests.conftest import bearer_client

pytestmark = pytest.mark.django_db


def test_every_category_is_on_until_turned_off(owner):
    body = bearer_client(owner).get("/api/v1/auth/me/notifications").json()
    assert body == {"security": True, "invitations": True, "incidents": True, "billing": True, "product": True}


def test_a_person_turns_categories_off_and_on(owner, member):
    client = bearer_client(owner)
    body = client.patch("/api/v1/auth/me/notifications", {"billing": False, "product": False}, format="json").json()
    assert (body["billing"], body["product"], body["incidents"]) == (False, False, True)
    assert client.patch("/api/v1/auth/me/notifications", {"product": True}, format="json").json()["billing"] is False
    assert not wants_email(address=owner.email, category="billing")
    assert wants_email(address=owner.email, category="product")
    assert wants_email(address=member.email, category="billing")  # someone else's preferences are their own


@pytest.mark.parametrize("body", [{"security": False}, {"billing": "sometimes"}, {"marketing": False},
                                  {"billing": None}])
def test_bad_preferences_are_400_in_the_envelope(owner, body):
    response = bearer_client(owner).patch("/api/v1/auth/me/notifications", body, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert wants_email(address=owner.email, category="billing")


def test_security_mail_cannot_be_turned_off(owner):
    bearer_client(owner).patch("/api/v1/auth/me/notifications", {"security": True}, format="json")
    assert wants_email(address=owner.email, category="security")


def test_anonymous_is_401():
    assert APIClient().get("/api/v1/auth/me/notifications").status_code == 401

"""The signed one-click unsubscribe link (RFC 8058): GET asks, POST acts, tampering is a 400."""
import pytest
from django.test import Client

from notifications import selectors, services
from notifications.models import AddressOptOut, NotificationPreference
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def link(address: str, category: str) -> str:
    return f"/notifications/unsubscribe/{services.unsubscribe_token(address=address, category=category)}"


def test_get_only_asks_and_changes_nothing():
    user = UserFactory()
    response = Client().get(link(user.email, "billing"))
    assert response.status_code == 200 and b"Stop <strong>billing</strong>" in response.content
    assert selectors.wants_email(address=user.email, category="billing")


def test_the_mail_clients_one_click_post_unsubscribes_without_a_session_or_csrf_token():
    user = UserFactory()
    client = Client(enforce_csrf_checks=True)
    response = client.post(link(user.email, "billing"), "List-Unsubscribe=One-Click",
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200 and b'id="unsubscribed"' in response.content
    assert not selectors.wants_email(address=user.email, category="billing")
    assert selectors.wants_email(address=user.email, category="product")  # only that category
    assert client.post(link(user.email, "billing")).status_code == 200  # twice is fine
    assert NotificationPreference.objects.get(user=user).billing is False


def test_an_address_without_an_account_is_remembered_until_its_account_turns_it_back_on():
    client = Client()
    client.post(link("Invitee@Example.com", "invitations"))
    assert not selectors.wants_email(address="invitee@example.com", category="invitations")

    user = UserFactory(email="invitee@example.com")
    assert not selectors.wants_email(address=user.email, category="invitations")
    services.notification_preferences_update(user=user, invitations=True)
    assert selectors.wants_email(address=user.email, category="invitations")
    assert not AddressOptOut.objects.exists()


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_tampered_token_is_a_400_page_and_changes_nothing(method):
    user = UserFactory()
    good = services.unsubscribe_token(address=user.email, category="billing")
    forged = services.unsubscribe_token(address="someone.else@example.com", category="billing")
    tampered = forged.split(":")[0] + ":" + good.split(":", 1)[1]  # another payload under a real signature
    for token in (tampered, good[:-2] + "xx", "not-a-token"):
        response = getattr(Client(), method)(f"/notifications/unsubscribe/{token}")
        assert response.status_code == 400 and b'id="invalid"' in response.content
    assert selectors.wants_email(address=user.email, category="billing")
    assert not NotificationPreference.objects.exists() and not AddressOptOut.objects.exists()


def test_security_has_no_unsubscribe_token():
    user = UserFactory()
    token = services.unsubscribe_token(address=user.email, category="security")
    assert Client().post(f"/notifications/unsubscribe/{token}").status_code == 400
    assert selectors.wants_email(address=user.email, category="security")

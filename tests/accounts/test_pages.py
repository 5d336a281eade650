"""The pages behind the links in e-mails, with Django's test client: a GET shows a page and
changes nothing (mail scanners prefetch links), the change is a CSRF-protected POST."""
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from django.test import Client

from accounts.models import User
from tenants.models import Invitation, Membership
from tests.accounts.conftest import token_from
from tests.conftest import bearer_client
from tests.factories import DEFAULT_PASSWORD, UserFactory

PASSWORD = "a-long-and-unusual-passphrase-17"
ROOT = Path(__file__).resolve().parents[2]


def browser() -> Client:
    return Client(enforce_csrf_checks=True, raise_request_exception=False)


def link_in(message, path: str) -> str:
    """The e-mail's link to `path`, as path + query (the test client's host is the base)."""
    match = re.search(rf"(http://\S+{re.escape(path)}\?token=\S+)", message.body)
    assert match, message.body
    parts = urlsplit(match.group(1))
    return f"{parts.path}?{parts.query}"


def post_form(client: Client, url: str, **fields):
    """Submit the page's form as a browser would: with the CSRF token the GET handed out."""
    page = client.get(url)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
    assert csrf, page.content.decode()
    token = re.search(r'name="token" value="([^"]+)"', page.content.decode()).group(1)
    return client.post(url.partition("?")[0], {"csrfmiddlewaretoken": csrf.group(1), "token": token, **fields})


def register(api_client, email="new@example.com"):
    response = api_client.post("/api/v1/auth/register", {"email": email, "password": PASSWORD, "name": "New"},
                               format="json")
    assert response.status_code == 201, response.content


def test_the_verification_link_opens_a_page_that_verifies_only_on_its_post(api_client, outbox):
    register(api_client)
    url = link_in(outbox[-1], "/auth/verify-email")
    client = browser()

    for _prefetch in range(2):
        shown = client.get(url)
        assert shown.status_code == 200
        assert "Confirm that <strong>new@example.com</strong>" in shown.content.decode()
    assert 'id="site-name"' in shown.content.decode()  # the admin's frame
    assert User.objects.get(email="new@example.com").verification_status == "not_verified"

    forged = client.post("/auth/verify-email", {"token": token_from(outbox[-1])})  # no CSRF token
    assert forged.status_code == 403
    assert User.objects.get(email="new@example.com").verification_status == "not_verified"

    done = post_form(client, url)
    assert done.status_code == 200
    assert "is verified" in done.content.decode()
    assert User.objects.get(email="new@example.com").verification_status == "verified"
    login = api_client.post("/api/v1/auth/login", {"email": "new@example.com", "password": PASSWORD}, format="json")
    assert login.status_code == 200


def test_a_bad_verification_link_shows_why_as_a_page(db):
    response = browser().get("/auth/verify-email?token=forged:1:x")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    assert "invalid or has expired" in response.content.decode()


def test_the_reset_link_opens_a_form_showing_the_validators_and_their_refusals(api_client, outbox):
    user = UserFactory(email="forgot@example.com")
    api_client.post("/api/v1/auth/password/reset", {"email": user.email}, format="json")
    url = link_in(outbox[-1], "/auth/password/reset")
    client = browser()

    shown = client.get(url)
    assert shown.status_code == 200
    assert "at least 8 characters" in shown.content.decode()  # the validators' help text
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)  # a GET changed nothing

    weak = post_form(client, url, new_password="12345678", new_password_again="12345678")
    assert weak.status_code == 400
    assert "This password is too common." in weak.content.decode()
    assert "This password is entirely numeric." in weak.content.decode()
    differ = post_form(client, url, new_password=PASSWORD, new_password_again=PASSWORD + "x")
    assert "The two passwords differ." in differ.content.decode()
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)

    done = post_form(client, url, new_password=PASSWORD, new_password_again=PASSWORD)
    assert done.status_code == 200 and "is changed" in done.content.decode()
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    again = client.get(url)  # the token dies with the password it was made for
    assert again.status_code == 400 and "invalid, used or expired" in again.content.decode()


def invite(owner, tenant, email):
    response = bearer_client(owner).post(f"/api/v1/tenants/{tenant.slug}/invitations",
                                         {"email": email, "role": "operator"}, format="json")
    assert response.status_code == 201, response.content


def test_a_new_person_registers_on_the_invitation_page_then_accepts(tenant, owner, outbox):
    invite(owner, tenant, "newbie@example.com")
    url = link_in(outbox[-1], "/invitations/accept")
    client = browser()

    shown = client.get(url)
    assert shown.status_code == 200
    assert f"to join <strong>{tenant.name}</strong>" in shown.content.decode()
    assert Invitation.objects.get(email="newbie@example.com").accepted_at is None

    registered = post_form(client, url, action="register", name="Newbie", password=PASSWORD)
    assert registered.status_code == 302 and registered["Location"] == url
    assert User.objects.get(email="newbie@example.com").verification_status == "verified"  # the link proved it
    assert 'id="accept"' in client.get(url).content.decode()
    assert not Membership.objects.filter(tenant=tenant, user__email="newbie@example.com").exists()

    accepted = post_form(client, url, action="accept")
    assert accepted.status_code == 200 and 'id="accepted"' in accepted.content.decode()
    assert Membership.objects.get(tenant=tenant, user__email="newbie@example.com").role == "operator"
    used = client.get(url)
    assert used.status_code == 400 and "has been accepted" in used.content.decode()


def test_an_existing_user_signs_in_on_the_invitation_page_and_a_wrong_password_is_refused(tenant, owner, outbox):
    person = UserFactory(email="known@example.com")
    invite(owner, tenant, person.email)
    url = link_in(outbox[-1], "/invitations/accept")
    client = browser()

    wrong = post_form(client, url, action="sign-in", email=person.email, password="wrong-password")
    assert wrong.status_code == 400 and "Invalid e-mail or password." in wrong.content.decode()
    assert post_form(client, url, action="accept").status_code == 400  # not signed in: nothing to accept
    signed_in = post_form(client, url, action="sign-in", email=person.email, password=DEFAULT_PASSWORD)
    assert signed_in.status_code == 302
    assert post_form(client, url, action="accept").status_code == 200
    assert Membership.objects.filter(tenant=tenant, user=person).exists()


def test_the_invitation_of_another_address_is_refused_to_the_signed_in_user(tenant, owner, outbox):
    invite(owner, tenant, "someone@example.com")
    url = link_in(outbox[-1], "/invitations/accept")
    client = browser()
    client.force_login(UserFactory(email="intruder@example.com"))

    refused = post_form(client, url, action="accept")
    assert refused.status_code == 400
    assert "sent to another e-mail address" in refused.content.decode()
    assert Invitation.objects.get(email="someone@example.com").accepted_at is None


def test_without_public_base_url_links_follow_the_port_this_run_serves():
    env = {k: v for k, v in os.environ.items() if k not in ("PUBLIC_BASE_URL", "WEB_HOST")}
    out = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings; "
                               "print(settings.PUBLIC_BASE_URL)"],
        cwd=ROOT, env={**env, "DJANGO_SETTINGS_MODULE": "config.settings", "WEB_PORT": "8123"},
        capture_output=True, text=True, timeout=60, check=True,
    )
    assert out.stdout.strip() == "http://127.0.0.1:8123"

"""Invitations end to end: invite by e-mail, read the mail, accept once, expiry and revocation."""
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from core.models import AuditEvent
from tenants.models import Invitation, Membership
from tenants.policy import Role
from tests.accounts.conftest import token_from, wait_for_mail
from tests.conftest import bearer_client
from tests.factories import DEFAULT_PASSWORD, UserFactory


def invitations_url(tenant) -> str:
    return f"/api/v1/tenants/{tenant.slug}/invitations"


def invite(client, tenant, email="invitee@example.com", role="operator"):
    return client.post(invitations_url(tenant), {"email": email, "role": role}, format="json")


def accept(client, token):
    return client.post("/api/v1/invitations/accept", {"token": token}, format="json")


def test_an_invited_person_registers_verifies_and_joins_with_the_invited_role(api_client, tenant, owner, outbox):
    response = invite(bearer_client(owner), tenant, email="Newbie@Example.com")
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "pending"
    assert "token" not in response.json()
    invitation_mail = outbox[-1]
    assert invitation_mail.to == ["newbie@example.com"]
    assert tenant.name in invitation_mail.subject
    assert "http://testserver/invitations/accept?token=" in invitation_mail.body

    api_client.post(
        "/api/v1/auth/register", {"email": "newbie@example.com", "password": DEFAULT_PASSWORD}, format="json"
    )
    api_client.post("/api/v1/auth/verify-email", {"token": token_from(outbox[-1])}, format="json")
    session = api_client.post(
        "/api/v1/auth/login", {"email": "newbie@example.com", "password": DEFAULT_PASSWORD}, format="json"
    ).json()
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {session['access']}")

    joined = accept(api_client, token_from(invitation_mail))

    assert joined.status_code == 200, joined.content
    assert joined.json()["tenant"]["slug"] == tenant.slug
    assert joined.json()["role"] == "operator"
    assert Membership.objects.get(tenant=tenant, user__email="newbie@example.com").role == Role.OPERATOR
    assert accept(api_client, token_from(invitation_mail)).status_code in (400, 409)  # single use
    assert AuditEvent.objects.filter(action="invitation.accept", tenant_id=tenant.pk).exists()


@pytest.mark.worker
def test_the_invitation_email_is_delivered_by_a_real_worker(tenant, owner, live_worker):
    mail.outbox = []
    assert invite(bearer_client(owner), tenant, email="w@example.com").status_code == 201
    wait_for_mail(1)
    assert [m.to for m in mail.outbox] == [["w@example.com"]]
    invitee = UserFactory(email="w@example.com")
    assert accept(bearer_client(invitee), token_from(mail.outbox[0])).status_code == 200


def test_accepting_requires_the_invited_email(tenant, owner, outbox):
    invite(bearer_client(owner), tenant, email="right@example.com")
    token = token_from(outbox[-1])

    wrong = accept(bearer_client(UserFactory(email="wrong@example.com")), token)

    assert wrong.status_code == 403
    assert accept(bearer_client(UserFactory(email="RIGHT@example.com")), token).status_code == 200


def test_accepting_requires_a_signed_in_user(api_client, tenant, owner, outbox):
    invite(bearer_client(owner), tenant)
    assert accept(api_client, token_from(outbox[-1])).status_code == 401


@pytest.mark.parametrize(
    "change, message",
    [
        ({"revoked_at": timezone.now()}, "revoked"),
        ({"expires_at": timezone.now() - timedelta(seconds=1)}, "expired"),
    ],
)
def test_a_revoked_or_expired_invitation_answers_a_clear_error(tenant, owner, outbox, change, message):
    invite(bearer_client(owner), tenant, email="late@example.com")
    Invitation.objects.filter(tenant=tenant).update(**change)

    response = accept(bearer_client(UserFactory(email="late@example.com")), token_from(outbox[-1]))

    assert response.status_code == 400
    assert message in str(response.json()["error"]["details"]["token"])


def test_invitations_expire_after_seven_days(tenant, owner, outbox):
    body = invite(bearer_client(owner), tenant).json()
    invitation = Invitation.objects.get(pk=body["id"])
    lifetime = invitation.expires_at - invitation.created_at
    assert timedelta(days=7) - timedelta(seconds=5) < lifetime <= timedelta(days=7)


def test_delete_revokes_and_the_token_stops_working(tenant, owner, outbox):
    client = bearer_client(owner)
    body = invite(client, tenant, email="gone@example.com").json()

    assert client.delete(f"{invitations_url(tenant)}/{body['id']}").status_code == 204

    listed = client.get(invitations_url(tenant), {"pending": "false"}).json()["results"]
    assert [row["status"] for row in listed] == ["revoked"]
    response = accept(bearer_client(UserFactory(email="gone@example.com")), token_from(outbox[-1]))
    assert response.status_code == 400


@pytest.mark.django_db
@pytest.mark.parametrize("role, expected", [(Role.ADMIN, 201), (Role.OWNER, 403)])
def test_admins_invite_but_never_above_their_own_role(tenant, make_member, role, expected):
    admin = make_member(tenant, Role.ADMIN)
    assert invite(bearer_client(admin), tenant, role=role).status_code == expected


@pytest.mark.django_db
def test_inviting_a_current_member_is_a_conflict(tenant, owner, member):
    assert invite(bearer_client(owner), tenant, email=member.email).status_code == 409


@pytest.mark.django_db
def test_an_unknown_token_is_a_clear_400(tenant, member):
    response = accept(bearer_client(member), "no-such-invitation")
    assert response.status_code == 400
    assert "does not exist" in str(response.json()["error"]["details"])


def test_re_inviting_replaces_the_pending_invitation(tenant, owner, outbox):
    client = bearer_client(owner)
    invite(client, tenant, email="twice@example.com")
    first_token = token_from(outbox[-1])
    invite(client, tenant, email="twice@example.com", role="viewer")
    second_token = token_from(outbox[-1])
    invitee = bearer_client(UserFactory(email="twice@example.com"))

    assert accept(invitee, first_token).status_code == 400
    joined = accept(invitee, second_token)
    assert joined.status_code == 200 and joined.json()["role"] == "viewer"

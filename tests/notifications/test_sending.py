"""The one sender: preferences by category, security always, the log, DB templates first."""
import pytest
from django.core import mail

from notifications import services
from notifications.models import AddressOptOut, EmailNotification, EmailTemplate
from tests.conftest import bearer_client
from tests.factories import UserFactory
from tests.tenants.test_invitations import invite as invite_with

INVITATION = {"inviter": "Ada", "tenant_name": "Acme", "role": "member", "link": "https://x/accept", "token": "t",
              "expires_at": "soon"}


def invite(owner, tenant, email):
    return invite_with(bearer_client(owner, tenant), tenant, email)


def test_an_invitation_goes_out_logged_with_one_click_unsubscribe_headers(tenant, owner, outbox):
    assert invite(owner, tenant, "new.person@example.com").status_code == 201

    [message] = outbox
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = message.extra_headers["List-Unsubscribe"].strip("<>")
    assert link.startswith("http://testserver/notifications/unsubscribe/")
    assert link in message.body and link in message.alternatives[0][0]
    row = EmailNotification.objects.get()
    assert (row.template, row.category, row.to, row.status) == ("invitation", "invitations",
                                                                "new.person@example.com", "sent")
    assert row.sent_at is not None and row.subject == message.subject


def test_a_category_turned_off_stops_the_mail_and_logs_it_suppressed(tenant, owner, outbox):
    invitee = UserFactory(email="invitee@example.com")
    services.notification_preferences_update(user=invitee, invitations=False)

    assert invite(owner, tenant, "Invitee@Example.com").status_code == 201

    assert outbox == []
    row = EmailNotification.objects.get()
    assert (row.status, row.to, row.sent_at) == ("suppressed", "invitee@example.com", None)


def test_security_mail_cannot_be_stopped_and_carries_no_unsubscribe(api_client, outbox):
    user = UserFactory()
    services.notification_preferences_update(user=user, invitations=False, incidents=False, billing=False,
                                             product=False)
    AddressOptOut.objects.create(address=user.email, category="billing")

    api_client.post("/api/v1/auth/password/reset", {"email": user.email}, format="json")

    [message] = outbox
    assert "List-Unsubscribe" not in message.extra_headers and "unsubscribe" not in message.body.lower()
    assert EmailNotification.objects.get().status == "sent"


def test_a_template_edited_in_the_database_is_used_by_the_next_mail(tenant, owner, outbox):
    services.email_templates_seed()
    row = EmailTemplate.objects.get(name="invitation")
    services.email_template_update(template=row, subject="Join {{ tenant_name }}, says {{ inviter }}",
                                   text_body="Edited words for {{ tenant_name }}: {{ link }}",
                                   html_body="<p>Edited <b>{{ tenant_name }}</b></p>")

    invite(owner, tenant, "someone@example.com")

    [message] = outbox
    assert message.subject == f"Join {tenant.name}, says {owner.name or owner.email}"
    assert message.body.startswith(f"Edited words for {tenant.name}: http://testserver/invitations/accept?token=")
    assert message.alternatives[0][0] == f"<p>Edited <b>{tenant.name}</b></p>"


def test_without_a_row_the_file_is_used_and_text_parts_are_not_html_escaped(db, settings):
    EmailTemplate.objects.filter(name="invitation").delete()
    mail.outbox = []

    services.email_send(template="invitation", to="x@example.com", context={**INVITATION, "inviter": "O'Brien & <Co>"})

    [message] = mail.outbox
    assert message.subject == "O'Brien & <Co> invited you to Acme on Groundstation"
    assert "O&#x27;Brien &amp; &lt;Co&gt;" in message.alternatives[0][0]


def test_a_failed_send_is_logged_and_raised_for_the_task_to_retry(db, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 1, 2  # nothing listens on 1

    with pytest.raises(OSError):
        services.email_send(template="invitation", to="x@example.com", context=INVITATION)

    row = EmailNotification.objects.get()
    assert row.status == "failed" and "ConnectionRefusedError" in row.error and row.sent_at is None


def test_a_broken_edit_is_refused_and_changes_nothing(db):
    services.email_templates_seed()
    row = EmailTemplate.objects.get(name="invitation")
    before = row.subject
    with pytest.raises(Exception) as caught:
        services.email_template_update(template=row, subject="{% if %}")
    assert "subject" in caught.value.detail
    assert EmailTemplate.objects.get(name="invitation").subject == before


def test_seeding_adds_missing_templates_and_keeps_edited_ones(db):
    services.email_templates_seed()
    EmailTemplate.objects.filter(name="invitation").update(subject="mine")
    EmailTemplate.objects.filter(name="payment_failed").delete()

    assert services.email_templates_seed() == 1
    assert EmailTemplate.objects.get(name="invitation").subject == "mine"
    assert EmailTemplate.objects.filter(name="payment_failed").exists()


def test_a_keyed_mail_goes_once_and_a_failed_one_is_retried_into_the_same_row(db, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 1, 2  # nothing listens on 1
    with pytest.raises(OSError):
        services.email_send(template="invitation", to="x@example.com", context=INVITATION, key="invite:1")
    assert EmailNotification.objects.get().status == "failed"

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    mail.outbox = []
    row = services.email_send(template="invitation", to="x@example.com", context=INVITATION, key="invite:1")
    assert (row.status, row.error, row.key) == ("sent", "", "invite:1")
    assert services.email_send(template="invitation", to="x@example.com", context=INVITATION, key="invite:1") is None
    assert len(mail.outbox) == 1 and EmailNotification.objects.get().pk == row.pk
    # The same key to someone else is their own e-mail.
    services.email_send(template="invitation", to="y@example.com", context=INVITATION, key="invite:1")
    assert len(mail.outbox) == 2 and EmailNotification.objects.count() == 2

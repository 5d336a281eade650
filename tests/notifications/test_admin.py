"""Staff edit and preview templates in the admin; the log is a capped, read-only list."""
import pytest

from notifications import services
from notifications.models import EmailNotification, EmailTemplate
from tests.console.factories import StaffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def template(db):
    services.email_templates_seed()
    return EmailTemplate.objects.get(name="invitation")


def test_the_preview_renders_the_sample_escaped_and_the_html_in_a_sandbox(admin_site_client, template):
    template.html_body = '<p>Hi {{ inviter }}</p><script>alert(1)</script>'
    template.text_body = "Plain <script>alert(2)</script> {{ inviter }}"
    template.save()
    response = admin_site_client.get(f"/admin/notifications/emailtemplate/{template.pk}/preview/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Ada invited you to Acme on Groundstation" in page  # the catalogue's sample
    # The HTML part only exists inside the sandboxed frame's attribute, escaped: no live tag.
    assert "<script>alert(1)</script>" not in page and "<script>alert(2)</script>" not in page
    assert "Plain &lt;script&gt;alert(2)&lt;/script&gt; Ada" in page
    assert 'sandbox title="HTML part" srcdoc="&lt;p&gt;Hi Ada&lt;/p&gt;&lt;script&gt;' in page
    assert "notifications/unsubscribe/sample" in page  # invitations are stoppable: the link is shown


def test_staff_edit_a_template_and_a_broken_one_is_refused(admin_site_client, template):
    url = f"/admin/notifications/emailtemplate/{template.pk}/change/"
    fields = {"subject": "New {{ tenant_name }}", "text_body": "Body {{ link }}", "html_body": "<p>{{ link }}</p>"}
    assert admin_site_client.post(url, {**fields, "subject": "{% if %}"}).status_code == 200  # the form again
    assert EmailTemplate.objects.get(pk=template.pk).subject != "{% if %}"

    assert admin_site_client.post(url, fields).status_code == 302
    saved = EmailTemplate.objects.get(pk=template.pk)
    assert saved.subject == "New {{ tenant_name }}" and saved.updated_by.email == "root@example.com"


def test_reset_to_the_file_undoes_an_edit(admin_site_client, template):
    original = template.subject
    EmailTemplate.objects.filter(pk=template.pk).update(subject="edited")
    admin_site_client.post("/admin/notifications/emailtemplate/",
                           {"action": "reset_to_file", "_selected_action": [template.pk]})
    assert EmailTemplate.objects.get(pk=template.pk).subject == original


def test_the_log_lists_and_nobody_edits_it(admin_site_client):
    EmailNotification.objects.create(template="invitation", category="invitations", to="a@example.com",
                                     status="suppressed")
    response = admin_site_client.get("/admin/notifications/emailnotification/?status=suppressed")
    assert response.status_code == 200 and b"a@example.com" in response.content
    row = EmailNotification.objects.get()
    assert admin_site_client.post(f"/admin/notifications/emailnotification/{row.pk}/change/",
                                  {"status": "sent"}).status_code == 403
    assert EmailNotification.objects.get().status == "suppressed"


def test_staff_without_the_permission_cannot_preview(client, template):
    client.force_login(StaffFactory())
    assert client.get(f"/admin/notifications/emailtemplate/{template.pk}/preview/").status_code == 403


@pytest.mark.parametrize("name,words", [
    ("invoice_finalized", "Invoice GS-000042 for Acme: 29.50 EUR"),
    ("payment_failed", "Your card was declined."),
    ("suspension_warning", "Acme will be suspended on 2026-12-16"),
])
def test_the_billing_templates_are_seeded_and_preview_with_their_unsubscribe_link(admin_site_client, name, words):
    services.email_templates_seed()
    row = EmailTemplate.objects.get(name=name)
    response = admin_site_client.get(f"/admin/notifications/emailtemplate/{row.pk}/preview/")
    assert response.status_code == 200
    page = response.content.decode()
    assert words in page and "notifications/unsubscribe/sample" in page
    listing = admin_site_client.get("/admin/notifications/emailtemplate/").content.decode()
    assert name in listing and "billing" in listing


def test_the_log_is_searched_by_what_an_e_mail_was_about(admin_site_client):
    EmailNotification.objects.create(template="invoice_finalized", category="billing", to="a@example.com",
                                     key="invoice_finalized:abc", status="sent")
    EmailNotification.objects.create(template="payment_failed", category="billing", to="b@example.com",
                                     key="payment_failed:xyz", status="sent")
    page = admin_site_client.get("/admin/notifications/emailnotification/?q=invoice_finalized:abc").content
    assert b"a@example.com" in page and b"b@example.com" not in page

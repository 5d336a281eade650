"""Destructive actions ask first, and rotated secrets are shown once, never stored."""
import pytest
from django.contrib.auth.models import Group

from apikeys.models import ApiKey
from console.permissions import READ_ONLY_GROUP
from tenants.models import Tenant
from tests.apikeys.factories import make_key
from tests.console.factories import StaffFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.console.urls")]


def test_a_destructive_action_shows_what_it_will_touch_and_changes_nothing(admin_site_client, tenant):
    response = admin_site_client.post(
        "/admin/tenants/tenant/", {"action": "suspend", "_selected_action": [str(tenant.pk)], "index": "0"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Suspend these tenants?" in html and str(tenant) in html and 'id="confirm-action"' in html
    assert Tenant.objects.get(pk=tenant.pk).status == Tenant.Status.ACTIVE


def test_confirming_runs_the_action_and_reports_it(admin_site_client, tenant, other_tenant):
    response = admin_site_client.post(
        "/admin/tenants/tenant/", {"action": "suspend", "_selected_action": [str(tenant.pk)], "post": "yes"},
        follow=True,
    )
    assert response.status_code == 200
    assert "Suspended 1." in [str(m) for m in response.context["messages"]]
    assert Tenant.objects.get(pk=tenant.pk).status == Tenant.Status.SUSPENDED
    assert Tenant.objects.get(pk=other_tenant.pk).status == Tenant.Status.ACTIVE


def test_a_read_only_operator_cannot_run_a_change_action(client, tenant):
    user = StaffFactory()
    user.groups.add(Group.objects.get(name=READ_ONLY_GROUP))
    client.force_login(user)
    response = client.post(
        "/admin/tenants/tenant/", {"action": "suspend", "_selected_action": [str(tenant.pk)], "post": "yes"}
    )
    assert response.status_code == 200  # the changelist again, with "No action selected"
    assert Tenant.objects.get(pk=tenant.pk).status == Tenant.Status.ACTIVE


def test_rotated_secrets_are_shown_once_and_not_stored(admin_site_client, tenant):
    key, old_secret = make_key(tenant, name="deploy")
    response = admin_site_client.post(
        "/admin/apikeys/apikey/", {"action": "rotate", "_selected_action": [str(key.pk)], "post": "yes"}
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    html = response.content.decode()
    key.refresh_from_db()
    [new_secret] = [line.split(">", 1)[1].split("<", 1)[0] for line in html.split('<code class="new-secret"')[1:]]
    assert new_secret.startswith("gsk_") and new_secret != old_secret
    assert key.matches(new_secret) and not key.matches(old_secret)
    assert key.digest not in html
    assert "messages" not in response.cookies
    assert admin_site_client.session.get("_messages") is None
    assert ApiKey.objects.get(pk=key.pk).rotated_at is not None

"""Lists read at a glance: short ids with the full one on hover, states as worded badges, and
action results that name the rows they did not touch."""
from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from accounts.services import personal_token_create
from orchestration.models import RunStatus
from tests.console.factories import RunFactory, seed_run, seed_tenant_page
from tests.factories import TenantFactory, UserFactory


def changelist(client, name: str, **query) -> str:
    response = client.get(reverse(f"admin:{name}_changelist"), query)
    assert response.status_code == 200
    return response.content.decode()


def test_run_ids_are_short_with_the_full_id_on_hover_and_states_are_badges(admin_site_client):
    run, _ = seed_run(TenantFactory())
    html = changelist(admin_site_client, "orchestration_run")
    assert f'<code class="console-id" title="{run.pk}">{str(run.pk)[:8]}…</code>' in html
    assert '<span class="console-badge" style="background:#0969da" title="▶ running">▶ running</span>' in html


def test_token_key_tenant_and_billing_states_are_worded_badges(admin_site_client):
    tenant = TenantFactory()
    seed_tenant_page(tenant, days=1, keys=0, members=0)
    token, _ = personal_token_create(user=UserFactory(), name="revoked one")
    token.revoked_at = timezone.now() - timedelta(hours=1)
    token.save(update_fields=["revoked_at"])
    assert ">revoked</span>" in changelist(admin_site_client, "accounts_personalaccesstoken")
    assert ">active</span>" in changelist(admin_site_client, "tenants_tenant")
    assert ">paid</span>" in changelist(admin_site_client, "billing_invoice")
    assert ">active</span>" in changelist(admin_site_client, "billing_subscription")
    assert ">ready</span>" in changelist(admin_site_client, "recommendations_recommendationmodel")


def test_retrying_and_cancelling_name_the_runs_left_alone(admin_site_client):
    tenant = TenantFactory()
    done = RunFactory(tenant=tenant, status=RunStatus.SUCCEEDED)
    response = admin_site_client.post(
        reverse("admin:orchestration_execution_changelist"),
        {"action": "cancel_runs", "_selected_action": [done.pk], "post": "yes"}, follow=True,
    )
    assert f"Not cancelled, already finished: {done.pk} (succeeded)." in response.content.decode()
    running, _ = seed_run(tenant)
    response = admin_site_client.post(
        reverse("admin:orchestration_run_changelist"),
        {"action": "retry_runs", "_selected_action": [running.pk]}, follow=True,
    )
    html = response.content.decode()
    assert f"Not retried, neither failed, timed out nor cancelled: {running.pk} (running)." in html
    assert "Retrying 0 run(s)." in html

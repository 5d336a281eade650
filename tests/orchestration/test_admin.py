"""The operators' console pages and actions for orchestration."""

import pytest
from django.test import Client

from orchestration import services, vault
from orchestration.models import Cluster, Run, Secret
from tests.factories import UserFactory
from tests.orchestration.factories import AgentFactory, make_cluster

DEFINITION = "name: console\nsteps:\n  - {id: a, satellite: echo}\n  - {id: b, satellite: echo, depends_on: [a]}\n"


@pytest.fixture
def staff(db):
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_every_orchestration_page_renders(staff, tenant):
    cluster = make_cluster(tenant, DEFINITION)
    run = services.run_trigger(cluster=cluster, inputs={})
    execution = services.execution_create(tenant=tenant, satellite="echo", inputs={"message": "x"})
    agent = AgentFactory(tenant=tenant)
    pages = [
        "/admin/orchestration/cluster/",
        f"/admin/orchestration/cluster/{cluster.pk}/change/",
        "/admin/orchestration/cluster/add/",
        "/admin/orchestration/run/",
        f"/admin/orchestration/run/{run.pk}/change/",
        "/admin/orchestration/execution/",
        f"/admin/orchestration/execution/{execution.pk}/change/",
        "/admin/orchestration/agent/",
        f"/admin/orchestration/agent/{agent.pk}/change/",
        "/admin/orchestration/agenttask/",
        "/admin/orchestration/secret/add/",
    ]
    for page in pages:
        assert staff.get(page).status_code == 200, page
    detail = staff.get(f"/admin/orchestration/run/{run.pk}/change/").content.decode()
    assert "running" in detail and "queued" in detail and "pending" in detail


def test_the_trigger_action_starts_runs_through_the_engine(staff, tenant):
    cluster = make_cluster(tenant, DEFINITION)
    response = staff.post(
        "/admin/orchestration/cluster/", {"action": "trigger_runs", "_selected_action": [str(cluster.pk)]}, follow=True
    )
    assert "Triggered 1 run(s)." in response.content.decode()
    assert Run.objects.get(cluster=cluster).trigger == "admin"


def test_cancel_and_retry_actions(staff, tenant):
    run = services.run_trigger(cluster=make_cluster(tenant, DEFINITION), inputs={})
    staff.post("/admin/orchestration/run/", {"action": "cancel_runs", "_selected_action": [str(run.pk)], "post": "yes"})
    run.refresh_from_db()
    assert run.status == "cancelled"
    staff.post("/admin/orchestration/run/", {"action": "retry_runs", "_selected_action": [str(run.pk)]})
    run.refresh_from_db()
    assert run.status == "running"
    assert run.steps.get(step_id="a").status == "queued"


def test_a_cluster_added_in_the_console_is_validated_and_versioned(staff, tenant):
    bad = staff.post("/admin/orchestration/cluster/add/", {"tenant": tenant.pk, "definition": "name: x\nsteps: []\n"})
    assert bad.status_code == 200 and "line 2" in bad.content.decode()
    staff.post("/admin/orchestration/cluster/add/", {"tenant": tenant.pk, "definition": DEFINITION})
    cluster = Cluster.objects.get(name="console")
    assert cluster.versions.count() == 1


def test_a_secret_set_in_the_console_is_stored_encrypted(staff, tenant):
    staff.post("/admin/orchestration/secret/add/", {"tenant": tenant.pk, "name": "DB_PASSWORD", "value": "pa55word!"})
    secret = Secret.objects.get(name="DB_PASSWORD")
    assert "pa55word" not in secret.ciphertext and vault.decrypt(secret.ciphertext) == "pa55word!"
    page = staff.get(f"/admin/orchestration/secret/{secret.pk}/change/").content.decode()
    assert "pa55word" not in page

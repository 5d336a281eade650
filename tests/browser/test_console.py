"""The operators' console in a real headless Chromium: the dashboard and the actions that
matter in an incident, each checked against the platform's real behaviour afterwards."""
from __future__ import annotations

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from apikeys.models import ApiKey
from monitoring.models import Node, Snapshot, Status
from orchestration.models import Run, RunStatus, StepRun, StepStatus
from tenants.models import Tenant
from tenants.policy import Role
from tests.apikeys.factories import make_key
from tests.browser.waits import left_page
from tests.console.factories import ApiCallFactory, HeartbeatFactory, RunFactory, seed_nodes
from tests.factories import MembershipFactory, TenantFactory, UserFactory
from tests.monitoring.factories import IncidentFactory, NodeFactory, NodeGroupFactory
from tests.monitoring.servers import http_server
from tests.orchestration.factories import make_cluster

pytestmark = pytest.mark.browser

SLOW_CLUSTER = "name: slow\nsteps:\n  - id: only\n    satellite: sleep\n    inputs: {seconds: 60}\n"


def submit_and_wait(browser: WebDriver, button) -> None:
    """Click a submit button and wait until the next page replaced this one."""
    button.click()
    WebDriverWait(browser, 15).until(left_page(button))


def run_action(browser: WebDriver, url: str, *, pks, label: str) -> str:
    """Tick rows on a changelist, run the action whose label contains `label`, confirm it if
    the console asks, and return the message the console reports."""
    browser.get(url)
    for pk in pks:
        browser.find_element(By.CSS_SELECTOR, f'input[name="_selected_action"][value="{pk}"]').click()
    select = Select(browser.find_element(By.NAME, "action"))
    [value] = [o.get_attribute("value") for o in select.options if label.lower() in o.text.lower()]
    select.select_by_value(value)
    submit_and_wait(browser, browser.find_element(By.CSS_SELECTOR, 'button[name="index"]'))
    # Destructive actions show a confirmation page first (no implicit wait: most pages have none).
    browser.implicitly_wait(0)
    try:
        confirm = browser.find_elements(By.CSS_SELECTOR, "#confirm-action")
    finally:
        browser.implicitly_wait(5)
    if confirm:
        submit_and_wait(browser, confirm[0])
    return " ".join(m.text for m in browser.find_elements(By.CSS_SELECTOR, "ul.messagelist li"))


def test_operator_opens_the_dashboard_and_sees_seeded_status_counts(signed_in, live_server, screenshot):
    tenant = TenantFactory(name="Acme", slug="acme")
    group = NodeGroupFactory(tenant=tenant, name="bridge-eu", min_online=2, status=Status.DOWN)
    nodes = seed_nodes(tenant, statuses={"up": 4, "down": 2, "degraded": 1, "unknown": 3}, group=group)
    IncidentFactory(tenant=tenant, node=nodes[4], title="edge-7 is down")
    RunFactory.create_batch(3, tenant=tenant, status=RunStatus.SUCCEEDED)
    RunFactory(tenant=tenant, status=RunStatus.FAILED)
    ApiCallFactory.create_batch(6, tenant=tenant)
    ApiCallFactory.create_batch(2, tenant=tenant, status=429)
    HeartbeatFactory(worker="celery@console-test")

    signed_in.get(f"{live_server.url}/admin/")
    assert "4 up" in signed_in.find_element(By.ID, "fleet-strip").text
    signed_in.find_element(By.ID, "open-dashboard").click()

    assert signed_in.current_url.endswith("/admin/dashboard/")
    figures = {key: signed_in.find_element(By.ID, f"nodes-{key}").text for key in ("up", "down", "degraded", "unknown")}
    assert figures == {"up": "4", "down": "2", "degraded": "1", "unknown": "3"}
    assert signed_in.find_element(By.ID, "incidents-open").text == "1"
    assert "edge-7 is down" in signed_in.find_element(By.ID, "incidents").text
    assert "bridge-eu" in signed_in.find_element(By.ID, "groups").text
    assert signed_in.find_element(By.ID, "runs-succeeded").text == "succeeded: 3"
    assert signed_in.find_element(By.ID, "api-requests").text == "8"
    assert signed_in.find_element(By.ID, "api-limited").text == "2"
    assert "beat ok" in signed_in.find_element(By.ID, "beat-state").text
    assert signed_in.find_element(By.ID, "workers-seen").text == "1"
    assert len(signed_in.find_elements(By.CSS_SELECTOR, "svg.console-chart")) >= 4
    screenshot()


def test_revoking_a_key_in_the_console_gets_it_401_on_the_api(signed_in, live_server, screenshot):
    tenant = TenantFactory()
    key, secret = make_key(tenant, name="leaked-in-a-gist")
    api = httpx.Client(base_url=live_server.url, headers={"Authorization": f"Bearer {secret}"}, timeout=10)
    assert api.get("/api/v1/nodes").status_code == 200

    message = run_action(signed_in, f"{live_server.url}/admin/apikeys/apikey/", pks=[key.pk], label="revoke")

    assert "1" in message
    assert ApiKey.objects.get(pk=key.pk).revoked_at is not None
    response = api.get("/api/v1/nodes")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AUTHENTICATION_FAILED"
    screenshot()


def test_suspending_a_tenant_in_the_console_shuts_its_members_out(signed_in, live_server, screenshot):
    tenant = TenantFactory(name="Noisy Neighbour")
    member = UserFactory()
    MembershipFactory(tenant=tenant, user=member, role=Role.OWNER)
    _, secret = make_key(tenant)
    api = httpx.Client(base_url=live_server.url, headers={"Authorization": f"Bearer {secret}"}, timeout=10)
    assert api.get("/api/v1/nodes").status_code == 200

    message = run_action(signed_in, f"{live_server.url}/admin/tenants/tenant/", pks=[tenant.pk], label="suspend")

    assert "Suspended 1" in message
    assert Tenant.objects.get(pk=tenant.pk).status == Tenant.Status.SUSPENDED
    response = api.get("/api/v1/nodes")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "FORBIDDEN"
    screenshot()


def test_checking_a_node_now_from_the_console_records_a_snapshot(signed_in, live_server, screenshot, settings):
    settings.OUTBOUND_ALLOW_PRIVATE = True
    with http_server() as target:
        node = NodeFactory(name="edge-1", port=target.port, path="/ok", status=Status.UNKNOWN)

        message = run_action(signed_in, f"{live_server.url}/admin/monitoring/node/", pks=[node.pk], label="check")

        assert any(path == "/ok" for _, path, _, _ in target.hits)
    assert "1" in message
    snapshot = Snapshot.objects.get(node=node)
    assert snapshot.status == Status.UP and snapshot.http_status == 200
    assert Node.objects.get(pk=node.pk).last_checked_at is not None
    screenshot()


def test_cancelling_a_running_run_from_the_console(signed_in, live_server, screenshot):
    tenant = TenantFactory()
    cluster = make_cluster(tenant, SLOW_CLUSTER)
    run = RunFactory(tenant=tenant, kind=Run.Kind.CLUSTER, cluster=cluster, version=1, status=RunStatus.RUNNING)
    StepRun.objects.create(run=run, step_id="only", satellite="sleep", status=StepStatus.RUNNING, task_id="t-1")

    message = run_action(signed_in, f"{live_server.url}/admin/orchestration/run/", pks=[run.pk], label="cancel")

    assert "1" in message
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED and run.finished_at is not None
    assert run.steps.get().status == StepStatus.CANCELLED
    screenshot()


def test_the_audit_log_shows_what_the_console_did(signed_in, live_server, screenshot):
    tenant = TenantFactory(slug="audited")
    key, _ = make_key(tenant, name="to-revoke")
    run_action(signed_in, f"{live_server.url}/admin/apikeys/apikey/", pks=[key.pk], label="revoke")

    signed_in.get(f"{live_server.url}/admin/core/auditevent/?tenant_id={tenant.pk}")
    table = signed_in.find_element(By.ID, "result_list").text
    assert "api_key.revoke" in table and "operator@example.com" in table
    assert Run.objects.count() == 0  # nothing else was touched
    screenshot()

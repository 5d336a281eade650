"""The operators' console for the fleet, and the fleet's Prometheus metrics."""
import pytest
from django.test import Client

from monitoring import metrics
from monitoring.models import Incident, Snapshot, Status
from tests.factories import UserFactory
from tests.monitoring.factories import IncidentFactory, NodeFactory, NodeGroupFactory, SnapshotFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client():
    user = UserFactory(is_staff=True, is_superuser=True)
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def test_the_node_changelist_shows_coloured_status_and_filters(staff_client, tenant):
    NodeFactory(tenant=tenant, name="red-node", status=Status.DOWN, last_latency_ms=12.0)
    response = staff_client.get("/admin/monitoring/node/?status__exact=down")
    assert response.status_code == 200
    html = response.content.decode()
    assert "red-node" in html
    assert "#cf222e" in html  # the red badge
    assert "12 ms" in html


def test_check_now_runs_real_checks_from_the_admin(staff_client, tenant, allow_private, server):
    node = NodeFactory(tenant=tenant, port=server.port)
    response = staff_client.post(
        "/admin/monitoring/node/", {"action": "check_now", "_selected_action": [str(node.pk)]}, follow=True
    )
    assert response.status_code == 200
    assert "Checked 1 node(s); 0 failed." in response.content.decode()
    node.refresh_from_db()
    assert node.status == Status.UP
    assert Snapshot.objects.filter(node=node).count() == 1


def test_pause_and_acknowledge_actions_go_through_the_services(staff_client, tenant):
    node = NodeFactory(tenant=tenant, status=Status.UP)
    staff_client.post("/admin/monitoring/node/", {"action": "pause", "_selected_action": [str(node.pk)]})
    node.refresh_from_db()
    assert (node.enabled, node.status) == (False, Status.UNKNOWN)
    incident = IncidentFactory(node=NodeFactory(tenant=tenant))
    staff_client.post("/admin/monitoring/incident/", {"action": "acknowledge", "_selected_action": [str(incident.pk)]})
    assert Incident.objects.get(pk=incident.pk).acknowledged_at is not None


def test_snapshots_are_read_only_with_a_capped_count(staff_client, tenant):
    SnapshotFactory(node=NodeFactory(tenant=tenant))
    assert staff_client.get("/admin/monitoring/snapshot/").status_code == 200
    assert staff_client.get("/admin/monitoring/snapshot/add/").status_code == 403


def test_metrics_export_fleet_status_per_tenant_id_and_check_counters(api_client, tenant, settings):
    settings.METRICS_TOKEN = "scrape-me"
    group = NodeGroupFactory(tenant=tenant, status=Status.UP)
    NodeFactory(tenant=tenant, status=Status.UP, group=group)
    NodeFactory(tenant=tenant, status=Status.DOWN)
    IncidentFactory(node=NodeFactory(tenant=tenant, status=Status.DOWN))
    metrics.record_checks([Snapshot(status=Status.UP, latency_ms=30.0), Snapshot(status=Status.DOWN, latency_ms=None)])
    text = api_client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me").content.decode()
    assert f'groundstation_nodes{{status="up",tenant="{tenant.pk}"}} 1.0' in text
    assert f'groundstation_nodes{{status="down",tenant="{tenant.pk}"}} 2.0' in text
    assert f'groundstation_node_groups{{status="up",tenant="{tenant.pk}"}} 1.0' in text
    assert f'groundstation_incidents_open{{tenant="{tenant.pk}"}} 1.0' in text
    assert tenant.slug not in text  # a scrape does not list the customers
    assert 'groundstation_checks_total{status="up"} 1.0' in text
    assert 'groundstation_check_latency_seconds_bucket{le="0.05"} 1.0' in text
    assert 'groundstation_check_latency_seconds_count 1.0' in text


def test_maintenance_windows_saved_in_the_admin_are_validated_and_audited(staff_client, tenant, other_tenant):
    from core.models import AuditEvent
    from monitoring.models import MaintenanceWindow

    node = NodeFactory(tenant=tenant, name="db-1")
    foreign = NodeFactory(tenant=other_tenant, name="not-ours")
    form = {
        "tenant": str(tenant.pk), "name": "upgrade", "node": str(node.pk), "group": "",
        "starts_at_0": "2026-11-23", "starts_at_1": "10:00:00", "ends_at_0": "2026-11-23", "ends_at_1": "12:00:00",
    }
    refused = staff_client.post("/admin/monitoring/maintenancewindow/add/", {**form, "node": str(foreign.pk)})
    assert refused.status_code == 200 and "belongs to another tenant" in refused.content.decode()
    backwards = staff_client.post("/admin/monitoring/maintenancewindow/add/", {**form, "ends_at_1": "09:00:00"})
    assert backwards.status_code == 200 and "must be after starts_at" in backwards.content.decode()
    assert not MaintenanceWindow.objects.exists()
    assert staff_client.post("/admin/monitoring/maintenancewindow/add/", form).status_code == 302
    window = MaintenanceWindow.objects.get()
    assert AuditEvent.objects.filter(action="maintenance_window.create", tenant_id=tenant.pk).exists()
    changed = staff_client.post(f"/admin/monitoring/maintenancewindow/{window.pk}/change/", {**form, "name": "longer"})
    assert changed.status_code == 302
    assert AuditEvent.objects.get(action="maintenance_window.update").changes["name"] == "longer"
    deleted = staff_client.post(f"/admin/monitoring/maintenancewindow/{window.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 302
    assert AuditEvent.objects.filter(action="maintenance_window.delete").exists()


def test_deleting_selected_nodes_in_the_admin_goes_through_the_service(staff_client, tenant):
    from core.models import AuditEvent
    from monitoring.models import Node

    nodes = [NodeFactory(tenant=tenant, name=f"gone-{i}") for i in range(2)]
    response = staff_client.post(
        "/admin/monitoring/node/",
        {"action": "delete_selected", "_selected_action": [str(n.pk) for n in nodes], "post": "yes"},
    )
    assert response.status_code == 302 and not Node.objects.filter(pk__in=[n.pk for n in nodes]).exists()
    assert AuditEvent.objects.filter(action="node.delete", tenant_id=tenant.pk).count() == 2


def test_a_nodes_change_page_shows_its_latest_metric_values(staff_client, tenant):
    node = NodeFactory(tenant=tenant, check_type="jsonrpc", rpc_method="getStatus",
                       metrics={"BNB Chain wraps": "networks.BNB Chain.wrapsToSign", "eth": "networks.Ethereum.x"},
                       last_metrics={"BNB Chain wraps": 3.0})
    html = staff_client.get(f"/admin/monitoring/node/{node.pk}/change/").content.decode()
    table = html.split('<table class="node-metrics">', 1)[1].split("</table>", 1)[0]
    assert "<td>BNB Chain wraps</td><td><code>networks.BNB Chain.wrapsToSign</code></td><td>3.0</td>" in table
    assert "<td>eth</td><td><code>networks.Ethereum.x</code></td><td>-</td>" in table


def node_form(tenant, **changes) -> dict:
    return {"tenant": str(tenant.pk), "name": "orchestrator", "address": "10.0.0.9", "port": "8545", "pubkey": "",
            "check_type": "jsonrpc", "path": "/", "expected_status": "200", "expected_body": "",
            "expected_json_field": "", "expected_json_value": "", "rpc_method": "getStatus", "rpc_params": "[]",
            "expected_result": "status", "expected_result_value": "", "metrics": '{"wraps": "networks.BNB Chain.w"}',
            "interval_seconds": "60", "timeout_seconds": "5", "enabled": "on", "group": "", "tags": "[]", **changes}


def test_the_node_form_validates_jsonrpc_and_metric_settings(staff_client, tenant):
    from monitoring.models import Node

    for bad in ({"metrics": '{"wraps": "networks..w"}'}, {"metrics": '["a"]'}, {"rpc_params": '"x"'},
                {"rpc_method": ""}, {"check_type": "tcp"}, {"expected_result": "a..b"}):
        response = staff_client.post("/admin/monitoring/node/add/", node_form(tenant, **bad))
        assert response.status_code == 200 and "errorlist" in response.content.decode(), bad
    assert not Node.objects.exists()
    response = staff_client.post("/admin/monitoring/node/add/", node_form(tenant))
    assert response.status_code == 302, response.content[:2000]
    node = Node.objects.get(name="orchestrator")
    assert (node.check_type, node.rpc_params, node.metrics) == ("jsonrpc", [], {"wraps": "networks.BNB Chain.w"})

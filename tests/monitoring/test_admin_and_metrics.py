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


def test_metrics_export_fleet_status_per_tenant_and_check_counters(api_client, tenant):
    group = NodeGroupFactory(tenant=tenant, status=Status.UP)
    NodeFactory(tenant=tenant, status=Status.UP, group=group)
    NodeFactory(tenant=tenant, status=Status.DOWN)
    IncidentFactory(node=NodeFactory(tenant=tenant, status=Status.DOWN))
    metrics.record_checks([Snapshot(status=Status.UP, latency_ms=30.0), Snapshot(status=Status.DOWN, latency_ms=None)])
    text = api_client.get("/metrics").content.decode()
    assert f'groundstation_nodes{{status="up",tenant="{tenant.slug}"}} 1.0' in text
    assert f'groundstation_nodes{{status="down",tenant="{tenant.slug}"}} 2.0' in text
    assert f'groundstation_node_groups{{status="up",tenant="{tenant.slug}"}} 1.0' in text
    assert f'groundstation_incidents_open{{tenant="{tenant.slug}"}} 1.0' in text
    assert 'groundstation_checks_total{status="up"} 1.0' in text
    assert 'groundstation_check_latency_seconds_bucket{le="0.05"} 1.0' in text
    assert 'groundstation_check_latency_seconds_count 1.0' in text

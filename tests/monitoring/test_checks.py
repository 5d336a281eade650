"""Real checks against local servers, through `POST /nodes/{id}/check`, and the state they drive."""
from datetime import timedelta

import pytest
from django.utils import timezone

from monitoring.models import Incident, MaintenanceWindow, Node, Snapshot, Status
from tests.monitoring.factories import NodeFactory, NodeGroupFactory
from tests.monitoring.servers import closed_port, tcp_listener

pytestmark = pytest.mark.django_db


def check(client, node):
    return client.post(f"/api/v1/nodes/{node.pk}/check")


def test_it_marks_a_healthy_http_node_up(ops, tenant, allow_private, server):
    node = NodeFactory(tenant=tenant, port=server.port, path="/ok")
    response = check(ops, node)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "up"
    assert body["http_status"] == 200
    assert body["latency_ms"] > 0
    assert body["error"] == ""
    node.refresh_from_db()
    assert node.status == Status.UP
    assert node.last_checked_at is not None
    assert Snapshot.objects.filter(node=node).count() == 1
    assert server.hits[0][1] == "/ok"


def test_a_5xx_answer_is_a_failed_check(ops, tenant, allow_private, server):
    node = NodeFactory(tenant=tenant, port=server.port, path="/status/503")
    body = check(ops, node).json()
    assert body["status"] == "down"
    assert body["http_status"] == 503
    assert "expected HTTP 200, got 503" in body["error"]


def test_a_timeout_is_a_failed_check(ops, tenant, allow_private, server):
    node = NodeFactory(tenant=tenant, port=server.port, path="/slow?s=3", timeout_seconds=1)
    body = check(ops, node).json()
    assert body["status"] == "down"
    assert "timed out" in body["error"]


def test_a_closed_port_is_a_failed_check(ops, tenant, allow_private):
    node = NodeFactory(tenant=tenant, port=closed_port())
    body = check(ops, node).json()
    assert body["status"] == "down"
    assert body["http_status"] is None
    assert body["error"]


def test_tcp_checks_connect_to_an_open_port_and_fail_on_a_closed_one(ops, tenant, allow_private):
    with tcp_listener() as port:
        node = NodeFactory(tenant=tenant, check_type=Node.CheckType.TCP, port=port)
        assert check(ops, node).json()["status"] == "up"
    closed = NodeFactory(tenant=tenant, check_type=Node.CheckType.TCP, port=closed_port())
    assert check(ops, closed).json()["status"] == "down"


def test_a_check_of_a_loopback_target_is_refused_unless_private_targets_are_allowed(ops, tenant, settings, server):
    settings.OUTBOUND_ALLOW_PRIVATE = False
    node = NodeFactory(tenant=tenant, port=server.port)
    body = check(ops, node).json()
    assert (body["status"], body["configuration_error"]) == ("unknown", True)
    assert "loopback or private" in body["error"]
    assert server.hits == []


def test_a_slow_but_successful_check_is_degraded(ops, tenant, allow_private, server, settings):
    settings.MONITORING_DEGRADED_LATENCY_MS = 100
    node = NodeFactory(tenant=tenant, port=server.port, path="/slow?s=0.3")
    assert check(ops, node).json()["status"] == "degraded"
    node.refresh_from_db()
    assert node.status == Status.DEGRADED


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [("status", "ok", "up"), ("status", "broken", "down"), ("version", "", "up"), ("missing.field", "", "down")],
)
def test_it_checks_an_expected_json_field(ops, tenant, allow_private, server, field, value, expected):
    node = NodeFactory(
        tenant=tenant, port=server.port, path="/json", expected_json_field=field, expected_json_value=value
    )
    assert check(ops, node).json()["status"] == expected


def test_it_checks_an_expected_body_substring(ops, tenant, allow_private, server):
    good = NodeFactory(tenant=tenant, port=server.port, path="/ok", expected_body="test server")
    bad = NodeFactory(tenant=tenant, port=server.port, path="/ok", expected_body="nope")
    assert check(ops, good).json()["status"] == "up"
    assert check(ops, bad).json()["status"] == "down"


def test_a_node_goes_down_only_after_the_consecutive_failure_threshold(ops, tenant, allow_private, settings):
    settings.MONITORING_FAILURE_THRESHOLD = 3
    node = NodeFactory(tenant=tenant, port=closed_port(), status=Status.UP)
    for expected_failures in (1, 2):
        check(ops, node)
        node.refresh_from_db()
        assert (node.status, node.consecutive_failures) == (Status.UP, expected_failures)
        assert not Incident.objects.filter(node=node).exists()
    check(ops, node)
    node.refresh_from_db()
    assert (node.status, node.consecutive_failures) == (Status.DOWN, 3)
    incident = Incident.objects.get(node=node)
    assert incident.state == Incident.State.OPEN
    assert incident.title == f"Node {node.name} is down"


def test_one_success_brings_a_down_node_back_up_and_resolves_its_incident(ops, tenant, allow_private, server):
    node = NodeFactory(tenant=tenant, port=closed_port(), status=Status.UP)
    check(ops, node)
    check(ops, node)
    assert Incident.objects.get(node=node).state == Incident.State.OPEN
    Node.objects.filter(pk=node.pk).update(port=server.port)
    assert check(ops, node).json()["status"] == "up"
    node.refresh_from_db()
    assert (node.status, node.consecutive_failures) == (Status.UP, 0)
    incident = Incident.objects.get(node=node)
    assert incident.state == Incident.State.RESOLVED
    assert incident.resolved_at is not None


def test_failures_inside_a_maintenance_window_open_no_incident(ops, tenant, allow_private):
    node = NodeFactory(tenant=tenant, port=closed_port(), status=Status.UP)
    now = timezone.now()
    MaintenanceWindow.objects.create(
        tenant=tenant, name="upgrade", node=node, starts_at=now - timedelta(minutes=5), ends_at=now + timedelta(hours=1)
    )
    check(ops, node)
    check(ops, node)
    node.refresh_from_db()
    assert node.status == Status.DOWN
    assert not Incident.objects.filter(node=node).exists()


def test_a_window_that_has_ended_no_longer_suppresses_incidents(ops, tenant, allow_private):
    node = NodeFactory(tenant=tenant, port=closed_port(), status=Status.UP)
    now = timezone.now()
    MaintenanceWindow.objects.create(
        tenant=tenant, name="old", starts_at=now - timedelta(hours=2), ends_at=now - timedelta(hours=1)
    )
    check(ops, node)
    check(ops, node)
    assert Incident.objects.filter(node=node, state=Incident.State.OPEN).exists()


class TestQuorumGroups:
    def test_a_group_is_up_while_min_online_members_are_up_and_down_below(self, ops, tenant, allow_private, server):
        group = NodeGroupFactory(tenant=tenant, min_online=2)
        nodes = [NodeFactory(tenant=tenant, group=group, port=server.port) for _ in range(3)]
        for node in nodes:
            check(ops, node)
        group.refresh_from_db()
        assert group.status == Status.UP

        # One member fails: quorum (2 of 3) still holds, but the group is degraded.
        Node.objects.filter(pk=nodes[0].pk).update(port=closed_port())
        check(ops, nodes[0])
        check(ops, nodes[0])
        group.refresh_from_db()
        assert group.status == Status.DEGRADED
        assert not Incident.objects.filter(group=group).exists()

        # A second member fails: 1 of 3 < 2, the bridge is down and an incident opens.
        Node.objects.filter(pk=nodes[1].pk).update(port=closed_port())
        check(ops, nodes[1])
        check(ops, nodes[1])
        group.refresh_from_db()
        assert group.status == Status.DOWN
        incident = Incident.objects.get(group=group)
        assert incident.state == Incident.State.OPEN
        assert "1 of 3 members up, 2 required" in incident.cause

        # It recovers as soon as the quorum is back.
        Node.objects.filter(pk=nodes[1].pk).update(port=server.port)
        check(ops, nodes[1])
        group.refresh_from_db()
        assert group.status == Status.DEGRADED
        incident.refresh_from_db()
        assert incident.state == Incident.State.RESOLVED

    def test_group_status_is_recomputed_when_a_member_is_removed(self, ops, tenant, allow_private, server):
        group = NodeGroupFactory(tenant=tenant, min_online=1)
        up = NodeFactory(tenant=tenant, group=group, port=server.port)
        check(ops, up)
        group.refresh_from_db()
        assert group.status == Status.UP
        assert ops.delete(f"/api/v1/nodes/{up.pk}").status_code == 204
        group.refresh_from_db()
        assert group.status == Status.UNKNOWN

    def test_paused_members_do_not_count(self, ops, tenant, allow_private, server):
        group = NodeGroupFactory(tenant=tenant, min_online=1)
        node = NodeFactory(tenant=tenant, group=group, port=server.port)
        check(ops, node)
        assert ops.post(f"/api/v1/nodes/{node.pk}/pause").json()["status"] == "unknown"
        group.refresh_from_db()
        assert group.status == Status.UNKNOWN
        resumed = ops.post(f"/api/v1/nodes/{node.pk}/resume").json()
        assert resumed["enabled"] is True

"""The monitoring API: CRUD, validation, permissions (every endpoint × every caller) and tenant isolation."""
import pytest

from monitoring import alerts
from monitoring.models import AlertChannel, MaintenanceWindow, Node
from tenants.policy import Action
from tests.conftest import bearer_client
from tests.matrix import Case, PermissionMatrix
from tests.monitoring.factories import IncidentFactory, NodeFactory, NodeGroupFactory, SnapshotFactory
from tests.monitoring.servers import closed_port

pytestmark = pytest.mark.django_db

NODE = {"name": "bridge-1", "address": "10.0.0.7", "port": 8080, "pubkey": "ed25519:abc", "check": "http",
        "path": "/health", "interval_seconds": 30, "timeout_seconds": 5, "tags": ["eu", "prod"]}


def test_an_operator_creates_reads_updates_and_deletes_a_node(ops, tenant):
    group = NodeGroupFactory(tenant=tenant)
    created = ops.post("/api/v1/nodes", {**NODE, "group": str(group.pk)}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["check"] == "http"
    assert body["status"] == "unknown"
    assert body["group"] == str(group.pk)
    assert body["tags"] == ["eu", "prod"]
    node_id = body["id"]

    assert ops.get(f"/api/v1/nodes/{node_id}/").json()["name"] == "bridge-1"
    patched = ops.patch(f"/api/v1/nodes/{node_id}", {"port": 9090, "check": "tcp"}, format="json")
    assert patched.status_code == 200
    assert (patched.json()["port"], patched.json()["check"]) == (9090, "tcp")
    listed = ops.get("/api/v1/nodes?check=tcp&tag=eu").json()
    assert [n["id"] for n in listed["results"]] == [node_id]
    assert ops.delete(f"/api/v1/nodes/{node_id}").status_code == 204
    assert not Node.objects.filter(pk=node_id).exists()


@pytest.mark.parametrize(
    "address",
    ["http://example.com", "example.com/path", "example.com:80", "a b", "host;rm -rf /", "$(id)", "`x`",
     "-bad.example", "", "300.1.1.1"],
)
def test_it_rejects_addresses_that_are_not_a_host_or_ip(ops, address):
    response = ops.post("/api/v1/nodes", {**NODE, "address": address}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert "address" in response.json()["error"]["details"]


@pytest.mark.parametrize("address", ["node-1.example.com", "192.0.2.10", "2001:db8::1", "localhost"])
def test_it_accepts_host_names_and_ip_addresses(ops, address):
    assert ops.post("/api/v1/nodes", {**NODE, "address": address}, format="json").status_code == 201


def test_it_rejects_bad_node_settings(ops, tenant):
    NodeFactory(tenant=tenant, name="taken")
    cases = [
        {"name": "taken"},
        {"port": 0},
        {"port": 70000},
        {"check": "icmp"},
        {"path": "no-slash"},
        {"path": "/with space"},
        {"interval_seconds": 1},
        {"timeout_seconds": 30, "interval_seconds": 20},
        {"group": "00000000-0000-0000-0000-000000000000"},
    ]
    for case in cases:
        response = ops.post("/api/v1/nodes", {**NODE, **case}, format="json")
        assert response.status_code == 400, case


def test_history_is_cursor_paginated_and_filtered_by_time(ops, tenant):
    from datetime import timedelta

    from django.utils import timezone

    node = NodeFactory(tenant=tenant)
    now = timezone.now()
    for minutes in range(5):
        SnapshotFactory(node=node, checked_at=now - timedelta(minutes=minutes))
    first = ops.get(f"/api/v1/nodes/{node.pk}/history?page_size=2").json()
    assert "count" not in first
    assert len(first["results"]) == 2
    assert set(first["results"][0]) == {"node_id", "checked_at", "status", "latency_ms", "http_status", "error",
                                        "configuration_error"}
    second = ops.get(first["next"]).json()
    assert len(second["results"]) == 2
    window = ops.get(
        f"/api/v1/nodes/{node.pk}/history",
        {"from": (now - timedelta(minutes=2, seconds=30)).isoformat(), "to": now.isoformat()},
    ).json()
    assert len(window["results"]) == 2  # minutes 1 and 2; `to` is exclusive
    bad = ops.get(f"/api/v1/nodes/{node.pk}/history?from=yesterday")
    assert bad.status_code == 400


def test_status_lists_every_node_and_the_summary_counts_them(ops, tenant):
    group = NodeGroupFactory(tenant=tenant, min_online=1, status="up")
    NodeFactory(tenant=tenant, status="up", group=group)
    NodeFactory(tenant=tenant, status="down", group=group)
    NodeFactory(tenant=tenant, status="unknown")
    IncidentFactory(node=NodeFactory(tenant=tenant, status="down"))
    status = ops.get("/api/v1/status").json()
    assert status["count"] == 4
    assert {"node_id", "status", "last_checked_at"} <= set(status["results"][0])
    summary = ops.get("/api/v1/status/summary/").json()
    assert summary["nodes"] == {"total": 4, "up": 1, "down": 2, "degraded": 0, "unknown": 1}
    assert summary["groups"][0]["members"] == 2
    assert summary["groups"][0]["members_up"] == 1
    assert summary["incidents_open"] == 1


def test_groups_report_their_members(ops, tenant):
    created = ops.post("/api/v1/node-groups", {"name": "bridge", "min_online": 2}, format="json")
    assert created.status_code == 201, created.content
    group_id = created.json()["id"]
    NodeFactory(tenant=tenant, group_id=group_id, status="up")
    body = ops.get(f"/api/v1/node-groups/{group_id}").json()
    assert (body["members"], body["members_up"], body["status"]) == (1, 1, "unknown")
    assert ops.post("/api/v1/node-groups", {"name": "bridge"}, format="json").status_code == 400
    assert ops.post("/api/v1/node-groups", {"name": "x", "min_online": 0}, format="json").status_code == 400


def test_incidents_filter_and_acknowledge(ops, tenant, operator):
    open_one = IncidentFactory(node=NodeFactory(tenant=tenant))
    IncidentFactory(node=NodeFactory(tenant=tenant), state="resolved")
    listed = ops.get("/api/v1/incidents?state=open").json()
    assert [i["id"] for i in listed["results"]] == [str(open_one.pk)]
    acked = ops.post(f"/api/v1/incidents/{open_one.pk}/acknowledge")
    assert acked.status_code == 200
    assert acked.json()["acknowledged_by"] == str(operator.pk)
    assert ops.get("/api/v1/incidents?acknowledged=true").json()["count"] == 1


def test_a_webhook_channel_returns_its_signing_secret_once(ops):
    created = ops.post("/api/v1/alert-channels", {"name": "ops", "kind": "webhook", "url": "https://hooks.example.com/x"},
                       format="json")
    assert created.status_code == 201, created.content
    secret = created.json()["signing_secret"]
    assert secret.startswith("whsec_")
    channel_id = created.json()["id"]
    assert "signing_secret" not in ops.get(f"/api/v1/alert-channels/{channel_id}").json()
    rotated = ops.post(f"/api/v1/alert-channels/{channel_id}/rotate-secret").json()["signing_secret"]
    assert rotated != secret
    channel = AlertChannel.objects.get(pk=channel_id)
    assert secret not in str(channel.__dict__) and rotated not in str(channel.__dict__)


@pytest.mark.parametrize(
    "payload",
    [{"kind": "webhook"}, {"kind": "email"}, {"kind": "webhook", "url": "ftp://x.example/"}, {"kind": "sms"}],
)
def test_it_rejects_incomplete_alert_channels(ops, payload):
    assert ops.post("/api/v1/alert-channels", {"name": "x", **payload}, format="json").status_code == 400


def test_maintenance_windows_validate_their_span(ops, tenant):
    node = NodeFactory(tenant=tenant)
    good = {"name": "m", "node": str(node.pk), "starts_at": "2030-01-01T00:00:00Z", "ends_at": "2030-01-01T02:00:00Z"}
    assert ops.post("/api/v1/maintenance-windows", good, format="json").status_code == 201
    backwards = {**good, "ends_at": "2029-12-31T00:00:00Z"}
    assert ops.post("/api/v1/maintenance-windows", backwards, format="json").status_code == 400


# --- Permissions: every endpoint × every caller (tests.matrix) ---------------------------------
NODE_PATH = "/api/v1/nodes/{node}"


class TestNodeEndpoints(PermissionMatrix):
    cases = [
        Case("nodes.list", "get", "/api/v1/nodes", Action.READ, 200),
        Case("nodes.create", "post", "/api/v1/nodes", Action.OPERATE, 201, NODE),
        Case("nodes.retrieve", "get", NODE_PATH, Action.READ, 200),
        Case("nodes.update", "patch", NODE_PATH, Action.OPERATE, 200, {"port": 81}),
        Case("nodes.delete", "delete", NODE_PATH, Action.OPERATE, 204),
        Case("nodes.check", "post", NODE_PATH + "/check", Action.OPERATE, 200),
        Case("nodes.pause", "post", NODE_PATH + "/pause", Action.OPERATE, 200),
        Case("nodes.resume", "post", NODE_PATH + "/resume", Action.OPERATE, 200),
        Case("nodes.history", "get", NODE_PATH + "/history", Action.READ, 200),
        Case("status.list", "get", "/api/v1/status", Action.READ, 200),
        Case("status.summary", "get", "/api/v1/status/summary", Action.READ, 200),
        Case("statistics.uptime", "get", "/api/v1/statistics/uptime", Action.READ, 200),
        Case("statistics.groups", "get", "/api/v1/statistics/groups", Action.READ, 200),
    ]

    def make_data(self, tenant, actor):
        return {"node": NodeFactory(tenant=tenant, port=closed_port()).pk}


class TestNodeGroupEndpoints(PermissionMatrix):
    cases = [
        Case("groups.list", "get", "/api/v1/node-groups", Action.READ, 200),
        Case("groups.create", "post", "/api/v1/node-groups", Action.OPERATE, 201, {"name": "g"}),
        Case("groups.retrieve", "get", "/api/v1/node-groups/{group}", Action.READ, 200),
        Case("groups.update", "patch", "/api/v1/node-groups/{group}", Action.OPERATE, 200, {"min_online": 2}),
        Case("groups.delete", "delete", "/api/v1/node-groups/{group}", Action.OPERATE, 204),
    ]

    def make_data(self, tenant, actor):
        return {"group": NodeGroupFactory(tenant=tenant).pk}


class TestIncidentEndpoints(PermissionMatrix):
    cases = [
        Case("incidents.list", "get", "/api/v1/incidents", Action.READ, 200),
        Case("incidents.retrieve", "get", "/api/v1/incidents/{incident}", Action.READ, 200),
        Case("incidents.acknowledge", "post", "/api/v1/incidents/{incident}/acknowledge", Action.OPERATE, 200),
    ]

    def make_data(self, tenant, actor):
        return {"incident": IncidentFactory(node=NodeFactory(tenant=tenant)).pk}


CHANNEL_PATH = "/api/v1/alert-channels/{channel}"


class TestAlertChannelEndpoints(PermissionMatrix):
    cases = [
        Case("channels.list", "get", "/api/v1/alert-channels", Action.READ, 200),
        Case("channels.create", "post", "/api/v1/alert-channels", Action.OPERATE, 201,
             {"name": "c", "kind": "email", "email": "a@example.com"}),
        Case("channels.retrieve", "get", CHANNEL_PATH, Action.READ, 200),
        Case("channels.update", "patch", CHANNEL_PATH, Action.OPERATE, 200, {"enabled": False}),
        Case("channels.delete", "delete", CHANNEL_PATH, Action.OPERATE, 204),
        Case("channels.rotate_secret", "post", CHANNEL_PATH + "/rotate-secret", Action.OPERATE, 200),
        Case("channels.deliveries", "get", CHANNEL_PATH + "/deliveries", Action.READ, 200),
    ]

    def make_data(self, tenant, actor):
        channel, _secret = alerts.alert_channel_create(
            tenant=tenant, name="hook", kind="webhook", url="https://hooks.example.com/gs"
        )
        return {"channel": channel.pk}


WINDOW = {"name": "m", "starts_at": "2030-01-01T00:00:00Z", "ends_at": "2030-01-01T02:00:00Z"}


class TestMaintenanceWindowEndpoints(PermissionMatrix):
    cases = [
        Case("windows.list", "get", "/api/v1/maintenance-windows", Action.READ, 200),
        Case("windows.create", "post", "/api/v1/maintenance-windows", Action.OPERATE, 201,
             {**WINDOW, "name": "new", "node": "{node}"}),
        Case("windows.retrieve", "get", "/api/v1/maintenance-windows/{window}", Action.READ, 200),
        Case("windows.update", "patch", "/api/v1/maintenance-windows/{window}", Action.OPERATE, 200,
             {"name": "renamed"}),
        Case("windows.delete", "delete", "/api/v1/maintenance-windows/{window}", Action.OPERATE, 204),
    ]

    def make_data(self, tenant, actor):
        node = NodeFactory(tenant=tenant)
        window = MaintenanceWindow.objects.create(tenant=tenant, node=node, **WINDOW)
        return {"node": node.pk, "window": window.pk}


def test_another_tenant_lists_and_counts_none_of_our_objects(tenant, outsider, other_tenant):
    node = NodeFactory(tenant=tenant)
    IncidentFactory(node=node)
    NodeGroupFactory(tenant=tenant)
    alerts.alert_channel_create(tenant=tenant, name="c", kind="email", email="a@example.com")
    MaintenanceWindow.objects.create(tenant=tenant, node=node, **WINDOW)
    client = bearer_client(outsider, other_tenant)
    for path in ["/api/v1/nodes", "/api/v1/node-groups", "/api/v1/incidents", "/api/v1/status",
                 "/api/v1/alert-channels", "/api/v1/maintenance-windows"]:
        assert client.get(path).json()["count"] == 0, path
    assert client.get("/api/v1/statistics/uptime").json()["results"] == []
    assert client.get("/api/v1/status/summary").json()["nodes"]["total"] == 0


def test_a_node_cannot_join_another_tenants_group(ops, other_tenant):
    foreign = NodeGroupFactory(tenant=other_tenant)
    response = ops.post("/api/v1/nodes", {**NODE, "group": str(foreign.pk)}, format="json")
    assert response.status_code == 400
    assert "group" in response.json()["error"]["details"]


@pytest.mark.parametrize("default_interval", [10, 15, 20, 60])
def test_a_node_with_only_the_required_fields_is_valid_whatever_the_default_interval(
    ops, settings, default_interval
):
    settings.MONITORING_DEFAULT_INTERVAL_SECONDS = default_interval
    created = ops.post("/api/v1/nodes", {"name": "minimal", "address": "10.0.0.8"}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["interval_seconds"] == default_interval
    assert 1 <= body["timeout_seconds"] < default_interval
    assert body["timeout_seconds"] == min(10, default_interval // 2)


def test_the_default_timeout_follows_an_interval_given_without_a_timeout(ops):
    created = ops.post("/api/v1/nodes", {"name": "quick", "address": "10.0.0.9", "interval_seconds": 10},
                       format="json")
    assert created.status_code == 201, created.content
    assert created.json()["timeout_seconds"] == 5

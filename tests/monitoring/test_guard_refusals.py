"""Destinations the outbound guard refuses are configuration errors, not outages.

An alert channel with such a URL is refused when it is written; a node whose check the guard
refuses is `unknown` with `configuration_error`, counts no failure, opens no incident and is
left out of uptime.
"""
from datetime import timedelta

import pytest
from django.utils import timezone

from monitoring import rollups
from monitoring.models import AlertChannel, Incident, Snapshot, Status
from monitoring.selectors import uptime_statistics
from tests.monitoring.factories import IncidentFactory, NodeFactory, SnapshotFactory

pytestmark = pytest.mark.django_db

ALWAYS_REFUSED = [
    "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1]/hook",
    "http://[::ffff:169.254.169.254]/hook",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://0.0.0.0:8080/hook",
]
PRIVATE = ["http://127.0.0.1:9000/hook", "http://10.1.2.3/hook", "http://[::1]/hook", "http://localhost:8000/hook",
           "http://api.localhost/hook"]


def webhook(url):
    return {"name": "ops", "kind": "webhook", "url": url}


def url_error(response) -> str:
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    return " ".join(error["details"]["url"])


@pytest.mark.parametrize("url", ALWAYS_REFUSED)
def test_a_channel_url_the_guard_always_refuses_is_rejected_even_with_private_targets_allowed(ops, settings, url):
    settings.OUTBOUND_ALLOW_PRIVATE = True
    message = url_error(ops.post("/api/v1/alert-channels", webhook(url), format="json"))
    assert "outbound guard" in message
    assert not AlertChannel.objects.exists()


@pytest.mark.parametrize("url", ALWAYS_REFUSED)
def test_updating_a_channel_to_an_always_refused_url_is_rejected_and_changes_nothing(ops, settings, url):
    settings.OUTBOUND_ALLOW_PRIVATE = True
    created = ops.post("/api/v1/alert-channels", webhook("https://hooks.example.com/x"), format="json")
    assert created.status_code == 201, created.content
    url_error(ops.patch(f"/api/v1/alert-channels/{created.json()['id']}", {"url": url}, format="json"))
    assert AlertChannel.objects.get().url == "https://hooks.example.com/x"


@pytest.mark.parametrize("url", PRIVATE)
def test_a_private_channel_url_is_refused_naming_the_setting_unless_it_is_on(ops, settings, url):
    settings.OUTBOUND_ALLOW_PRIVATE = False
    message = url_error(ops.post("/api/v1/alert-channels", webhook(url), format="json"))
    assert "OUTBOUND_ALLOW_PRIVATE" in message
    settings.OUTBOUND_ALLOW_PRIVATE = True
    assert ops.post("/api/v1/alert-channels", webhook(url), format="json").status_code == 201


def test_a_private_url_is_refused_on_update_too(ops, settings):
    settings.OUTBOUND_ALLOW_PRIVATE = False
    created = ops.post("/api/v1/alert-channels", webhook("https://hooks.example.com/x"), format="json")
    message = url_error(ops.patch(f"/api/v1/alert-channels/{created.json()['id']}",
                                  {"url": "http://192.168.1.10/hook"}, format="json"))
    assert "OUTBOUND_ALLOW_PRIVATE" in message


def check(client, node):
    response = client.post(f"/api/v1/nodes/{node.pk}/check")
    assert response.status_code == 200, response.content
    return response.json()


def test_a_refused_check_is_a_configuration_error_naming_the_setting(ops, tenant, settings, server):
    settings.OUTBOUND_ALLOW_PRIVATE = False
    settings.MONITORING_FAILURE_THRESHOLD = 2
    node = NodeFactory(tenant=tenant, port=server.port, status=Status.UP)
    for _ in range(3):
        body = check(ops, node)
        assert body["status"] == "unknown"
        assert body["configuration_error"] is True
        assert body["latency_ms"] is None
        assert "refused by the outbound guard" in body["error"]
        assert "OUTBOUND_ALLOW_PRIVATE" in body["error"]
    assert server.hits == []
    node.refresh_from_db()
    assert (node.status, node.configuration_error, node.consecutive_failures) == (Status.UNKNOWN, True, 0)
    assert not Incident.objects.filter(node=node).exists()
    shown = ops.get(f"/api/v1/nodes/{node.pk}").json()
    assert (shown["status"], shown["configuration_error"]) == ("unknown", True)
    assert "OUTBOUND_ALLOW_PRIVATE" in shown["last_error"]
    assert ops.get("/api/v1/status").json()["results"][0]["configuration_error"] is True

    settings.OUTBOUND_ALLOW_PRIVATE = True  # fixed: the next check is a real result again
    body = check(ops, node)
    assert (body["status"], body["configuration_error"]) == ("up", False)
    node.refresh_from_db()
    assert (node.status, node.configuration_error) == (Status.UP, False)


def test_a_node_that_becomes_refused_resolves_its_outage_instead_of_prolonging_it(ops, tenant, settings):
    settings.OUTBOUND_ALLOW_PRIVATE = False
    node = NodeFactory(tenant=tenant, address="169.254.10.10", status=Status.DOWN, consecutive_failures=5)
    incident = IncidentFactory(tenant=tenant, node=node)
    body = check(ops, node)
    assert body["configuration_error"] is True
    assert "refused whatever OUTBOUND_ALLOW_PRIVATE says" in body["error"]
    incident.refresh_from_db()
    assert incident.state == Incident.State.RESOLVED


def test_refused_checks_are_left_out_of_uptime_raw_and_rolled_up(tenant):
    node = NodeFactory(tenant=tenant)
    now = timezone.now()
    hour = rollups.floor_hour(now) - timedelta(hours=2)
    for minute in (0, 10):
        SnapshotFactory(node=node, checked_at=hour + timedelta(minutes=minute), status=Status.UP)
    for minute in (20, 30, 40):
        SnapshotFactory(node=node, checked_at=hour + timedelta(minutes=minute), status=Status.UNKNOWN,
                        latency_ms=None, configuration_error=True, error="refused by the outbound guard: …")
    SnapshotFactory(node=node, checked_at=now - timedelta(minutes=1), status=Status.UNKNOWN, latency_ms=None,
                    configuration_error=True)
    raw = uptime_statistics(tenant=tenant, window="24h", now=now)["results"][0]
    assert (raw["uptime_percent"], raw["checks"]) == (100.0, 2)
    rollups.snapshots_rollup(now=now)
    assert Snapshot.objects.filter(node=node).count() == 6
    rolled = uptime_statistics(tenant=tenant, window="24h", now=now)["results"][0]
    assert (rolled["uptime_percent"], rolled["checks"]) == (100.0, 2)

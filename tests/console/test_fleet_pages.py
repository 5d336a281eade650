"""The node and group pages (their history above the change form) and the node list's check
bars cost a fixed number of queries, whatever the number of checks, days or incidents."""
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from monitoring.models import Incident, Node, Snapshot, Status
from tests.console.factories import seed_nodes
from tests.console.fleet import roll_up, seed_history, seed_incidents
from tests.factories import TenantFactory
from tests.monitoring.factories import IncidentFactory, NodeFactory, NodeGroupFactory
from tests.monitoring.servers import closed_port, http_server

pytestmark = pytest.mark.django_db


def page_queries(client, url: str) -> tuple[int, str]:
    """Queries of a second visit: the first fills Django's per-process caches (content types)."""
    client.get(url)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries), response.content.decode()


def test_the_node_page_costs_the_same_for_an_hour_and_for_thirty_days(admin_site_client):
    url_of = "/admin/monitoring/node/{}/change/".format
    young, old = NodeFactory(name="young"), NodeFactory(name="old")
    seed_history(young, hours=1)
    seed_history(old, hours=30 * 24)
    seed_incidents(old, count=25)
    roll_up()
    seed_history(young, hours=0.5)  # checks after the hourly watermark: the raw tail
    seed_history(old, hours=0.5)
    few, _ = page_queries(admin_site_client, url_of(young.pk))
    many, html = page_queries(admin_site_client, url_of(old.pk))
    assert many == few
    assert html.count('class="check-cell"') == 90
    assert html.count('class="incident-row"') == 10


def test_the_node_page_draws_each_check_in_its_status_colour_and_height(admin_site_client):
    node = NodeFactory()
    seed_history(node, hours=90 * 10 / 60)  # exactly 90 checks, 10 minutes apart
    _, html = page_queries(admin_site_client, f"/admin/monitoring/node/{node.pk}/change/")
    cells = re.findall(r'<rect class="check-cell" data-status="(\w+)"[^>]* height="([\d.]+)"[^>]*fill="(#\w+)"',
                       html)
    assert len(cells) == 90
    assert {(s, h, f) for s, h, f in cells} == {
        ("up", "28.0", "#1a7f37"), ("degraded", "18.7", "#b7791f"), ("down", "9.3", "#cf222e")
    }
    downs = sum(1 for s, _, _ in cells if s == "down")
    assert downs == 5  # indexes 16, 33, 50, 67, 84
    assert f"{downs} down" in html


def test_the_node_page_shows_uptime_from_the_rollups_and_the_raw_tail(admin_site_client):
    node = NodeFactory()
    seed_history(node, hours=48)
    roll_up()
    _, html = page_queries(admin_site_client, f"/admin/monitoring/node/{node.pk}/change/")
    uptime = re.search(r'id="uptime-24h">([\d.]+) %', html)
    assert uptime is not None
    assert 90 < float(uptime.group(1)) < 96  # one check in 17 is down
    assert 'class="latency-point"' in html


def test_the_node_list_bars_cost_one_query_for_the_whole_page(admin_site_client):
    tenant = TenantFactory()
    few = seed_nodes(tenant, statuses={"up": 3})
    for node in few:
        seed_history(node, hours=1)
    with CaptureQueriesContext(connection) as small:
        response = admin_site_client.get("/admin/monitoring/node/")
    assert response.content.decode().count('class="check-cell"') == 3 * 6
    many = seed_nodes(tenant, statuses={"up": 20, "down": 7})
    for node in many:
        seed_history(node, hours=12)
    with CaptureQueriesContext(connection) as large:
        response = admin_site_client.get("/admin/monitoring/node/")
    html = response.content.decode()
    assert html.count('class="check-cell"') == 3 * 6 + 27 * 30
    assert len(large) == len(small)


def test_the_group_page_costs_the_same_for_two_and_twenty_members(admin_site_client):
    small, large = NodeGroupFactory(min_online=1), NodeGroupFactory(min_online=10)
    for group, members in ((small, 2), (large, 20)):
        for node in seed_nodes(group.tenant, statuses={"up": members}, group=group):
            seed_history(node, hours=6 if group is small else 7 * 24)
    IncidentFactory(tenant=large.tenant, node=None, group=large, state=Incident.State.RESOLVED,
                    opened_at=timezone.now() - timezone.timedelta(hours=30),
                    resolved_at=timezone.now() - timezone.timedelta(hours=29))
    roll_up()
    few, _ = page_queries(admin_site_client, f"/admin/monitoring/nodegroup/{small.pk}/change/")
    many, html = page_queries(admin_site_client, f"/admin/monitoring/nodegroup/{large.pk}/change/")
    assert many == few
    assert html.count('class="member-row"') == 20
    assert html.count('class="quorum-down"') == 1
    assert 'class="quorum-line"' in html


def test_check_now_names_the_nodes_that_failed(admin_site_client, settings):
    settings.OUTBOUND_ALLOW_PRIVATE = True
    tenant = TenantFactory()
    with http_server() as target:
        ok = NodeFactory(tenant=tenant, name="answers", port=target.port, path="/ok")
        failing = NodeFactory(tenant=tenant, name="edge-7", port=closed_port())
        response = admin_site_client.post("/admin/monitoring/node/", {
            "action": "check_now", "_selected_action": [str(ok.pk), str(failing.pk)]}, follow=True)
    [message] = [str(m) for m in response.context["messages"]]
    assert message.startswith("Checked 2 node(s); 1 failed: edge-7 (")
    assert "answers" not in message
    assert Snapshot.objects.get(node=failing).status == Status.DOWN


def test_the_node_page_shows_the_latest_metric_values(admin_site_client):
    node = NodeFactory()
    Node.objects.filter(pk=node.pk).update(metrics={"queue": "jobs.waiting", "lag": "sync.lag"},
                                           last_metrics={"queue": 7})
    _, html = page_queries(admin_site_client, f"/admin/monitoring/node/{node.pk}/change/")
    rows = re.findall(r'<tr class="metric-row"><td>(\w+)</td><td><code>([\w.]+)</code></td><td>([^<]+)</td>', html)
    assert rows == [("lag", "sync.lag", "—"), ("queue", "jobs.waiting", "7")]

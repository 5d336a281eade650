"""The dashboard shows the platform's state, costs a fixed number of queries, and renders
while parts of the platform are empty or down."""
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apikeys.services import usage_rollup
from monitoring.models import Heartbeat, NodeGroup, Status
from orchestration.models import RunStatus
from tests.console.factories import ApiCallFactory, HeartbeatFactory, RunFactory, StaffFactory, seed_nodes
from tests.factories import TenantFactory
from tests.monitoring.factories import IncidentFactory, NodeGroupFactory

DASHBOARD = "/admin/dashboard/"


def seed_platform(*, nodes_per_status: int, tenants: int = 2) -> None:
    """A fleet, groups, incidents, runs and API calls proportional to `nodes_per_status`."""
    for _ in range(tenants):
        tenant = TenantFactory()
        group = NodeGroupFactory(tenant=tenant, min_online=2, status=Status.DOWN)
        NodeGroupFactory(tenant=tenant, status=Status.UP)
        nodes = seed_nodes(tenant, statuses=dict.fromkeys(("up", "down", "degraded", "unknown"), nodes_per_status),
                           group=group)
        seed_nodes(tenant, statuses={"up": nodes_per_status}, enabled=False)
        for node in nodes[nodes_per_status:nodes_per_status + 2]:
            IncidentFactory(node=node, tenant=tenant)
        for status in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.RUNNING):
            RunFactory.create_batch(nodes_per_status, tenant=tenant, status=status)
        ApiCallFactory.create_batch(nodes_per_status, tenant=tenant)
        ApiCallFactory.create_batch(2, tenant=tenant, status=429)
    HeartbeatFactory()


def test_it_shows_seeded_fleet_runs_and_api_figures(admin_site_client):
    tenant = TenantFactory(slug="busy-co", name="Busy Co")
    group = NodeGroupFactory(tenant=tenant, name="bridge-eu", min_online=3, status=Status.DOWN)
    seed_nodes(tenant, statuses={"up": 2, "down": 3, "degraded": 1}, group=group)
    seed_nodes(tenant, statuses={"unknown": 4})
    seed_nodes(tenant, statuses={"up": 5}, enabled=False)
    IncidentFactory(tenant=tenant, node=None, group=group, title="bridge-eu lost quorum")
    RunFactory.create_batch(3, tenant=tenant, status=RunStatus.SUCCEEDED)
    RunFactory(tenant=tenant, status=RunStatus.FAILED)
    old = RunFactory(tenant=tenant, status=RunStatus.FAILED)
    type(old).objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=30))
    ApiCallFactory.create_batch(7, tenant=tenant)
    ApiCallFactory.create_batch(2, tenant=tenant, status=429)
    ApiCallFactory(tenant=tenant, status=503)
    ApiCallFactory.create_batch(3, tenant=TenantFactory(slug="quiet-co"))
    HeartbeatFactory(worker="celery@alpha")
    usage_rollup()  # the metering pipeline's own step: raw calls → daily rollups

    response = admin_site_client.get(DASHBOARD)

    assert response.status_code == 200
    context = response.context
    assert {k: context["nodes"][k] for k in ("up", "down", "degraded", "unknown", "paused", "total")} == {
        "up": 2, "down": 3, "degraded": 1, "unknown": 4, "paused": 5, "total": 15,
    }
    [row] = context["groups"]["rows"]
    assert (row.name, row.status, row.online, row.members, row.min_online) == ("bridge-eu", "down", 3, 6, 3)
    assert context["incidents"]["total"] == 1
    assert context["runs"]["totals"]["succeeded"] == 3
    assert context["runs"]["totals"]["failed"] == 1  # the 30-hour-old failure is outside the window
    assert (context["api"]["requests"], context["api"]["limited"], context["api"]["errors"]) == (13, 2, 1)
    top = [(t["tenant__slug"], t["requests"]) for t in context["api"]["top_tenants"]]
    assert top == [("busy-co", 10), ("quiet-co", 3)]
    assert context["celery"]["beat_state"] == "ok"
    assert context["celery"]["workers"] == ["celery@alpha"]
    html = response.content.decode()
    assert 'id="nodes-down"' in html and "bridge-eu lost quorum" in html
    assert html.count("<svg") >= 4  # fleet bar, runs, requests, sparklines: drawn server-side


def test_it_costs_the_same_queries_for_5_and_200_nodes(admin_site_client, django_assert_num_queries):
    seed_platform(nodes_per_status=5)
    with CaptureQueriesContext(connection) as small:
        assert admin_site_client.get(DASHBOARD).status_code == 200
    seed_platform(nodes_per_status=200)
    with CaptureQueriesContext(connection) as large:
        response = admin_site_client.get(DASHBOARD)
    assert response.status_code == 200
    assert response.context["nodes"]["total"] > 2000
    assert len(large) == len(small)
    # Session, user; nodes; groups: counts, rows; incidents; runs; requests; top tenants; heartbeats.
    with django_assert_num_queries(10):
        admin_site_client.get(DASHBOARD)


def test_it_renders_an_empty_platform(admin_site_client):
    response = admin_site_client.get(DASHBOARD)
    assert response.status_code == 200
    assert response.context["celery"]["beat_state"] == "never"
    assert "No heartbeat has reached a worker yet" in response.content.decode()


def test_it_calls_beat_late_after_three_missed_ticks(admin_site_client):
    HeartbeatFactory(seen_at=timezone.now() - timedelta(minutes=15), sent_at=timezone.now() - timedelta(minutes=15))
    response = admin_site_client.get(DASHBOARD)
    assert response.context["celery"]["beat_state"] == "late"
    assert response.context["celery"]["workers"] == []  # not seen within the last 10 minutes either


def test_it_counts_queued_messages_in_the_filesystem_broker(admin_site_client, tmp_path):
    from config.celery import app

    saved = app.conf.broker_url, app.conf.broker_transport_options
    folder = tmp_path / "out"
    folder.mkdir()
    for i in range(3):
        (folder / f"{i}_abc.celery.msg").write_text("{}")
    (folder / "9_abc.other.msg").write_text("{}")
    app.conf.broker_url = "filesystem://"
    app.conf.broker_transport_options = {"data_folder_in": str(folder)}
    try:
        response = admin_site_client.get(DASHBOARD)
    finally:
        app.conf.broker_url, app.conf.broker_transport_options = saved
    assert response.context["celery"]["queue_depth"] == 3


def test_it_shows_an_unknown_queue_depth_when_redis_is_down(admin_site_client):
    from config.celery import app

    saved = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    try:
        response = admin_site_client.get(DASHBOARD)
    finally:
        app.conf.broker_url = saved
    assert response.status_code == 200
    assert response.context["celery"]["queue_depth"] is None


@pytest.mark.parametrize("path", [DASHBOARD, "/admin/"])
def test_it_sends_anonymous_visitors_to_the_login_page(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_it_refuses_signed_in_non_staff(client, db):
    client.force_login(StaffFactory(is_staff=False))
    response = client.get(DASHBOARD)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_the_index_shows_the_fleet_strip_and_links_the_dashboard(admin_site_client):
    seed_nodes(TenantFactory(), statuses={"down": 2, "up": 1})
    response = admin_site_client.get("/admin/")
    html = response.content.decode()
    assert response.status_code == 200
    assert response.context["fleet_strip"]["nodes"]["down"] == 2
    assert 'href="/admin/dashboard/"' in html and "2 down" in html


def test_a_read_only_operator_sees_the_dashboard(client, db):
    from django.contrib.auth.models import Group

    user = StaffFactory()
    user.groups.add(Group.objects.get(name="Operators (read-only)"))
    client.force_login(user)
    assert client.get(DASHBOARD).status_code == 200
    assert NodeGroup.objects.count() == 0 and Heartbeat.objects.count() == 0


@pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL (CI runs with Redis)")
def test_it_reads_queue_depth_from_the_redis_broker(admin_site_client):
    import redis

    from config.celery import app

    saved = app.conf.broker_url
    app.conf.broker_url = settings.REDIS_URL
    client = redis.Redis.from_url(settings.REDIS_URL)
    queue = "celery"
    before = client.llen(queue)
    client.rpush(queue, "waiting-1", "waiting-2")
    try:
        response = admin_site_client.get(DASHBOARD)
    finally:
        client.lrem(queue, 0, "waiting-1")
        client.lrem(queue, 0, "waiting-2")
        app.conf.broker_url = saved
        client.close()
    assert response.context["celery"]["queue_depth"] == before + 2

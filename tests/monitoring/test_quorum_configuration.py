"""Group status changes that come from configuration are quiet: only check results open incidents."""
import pytest

from monitoring.models import Incident, Status
from tests.monitoring.factories import NodeFactory, NodeGroupFactory
from tests.monitoring.servers import closed_port

pytestmark = pytest.mark.django_db


def group_of(ops, tenant, *, min_online):
    created = ops.post("/api/v1/node-groups", {"name": "bridge", "min_online": min_online}, format="json")
    assert created.status_code == 201, created.content
    return created.json()["id"]


def status_of(ops, group_id):
    return ops.get(f"/api/v1/node-groups/{group_id}").json()["status"]


def test_adding_healthy_members_one_by_one_opens_and_resolves_nothing(ops, tenant):
    group_id = group_of(ops, tenant, min_online=3)
    seen = []
    for _ in range(3):
        node = NodeFactory(tenant=tenant, status=Status.UP)
        assert ops.patch(f"/api/v1/nodes/{node.pk}", {"group": group_id}, format="json").status_code == 200
        seen.append(status_of(ops, group_id))
    assert seen == ["down", "down", "up"]  # the status follows the configuration …
    assert not Incident.objects.exists()  # … quietly


def test_creating_members_in_the_group_and_removing_them_is_quiet(ops, tenant):
    group_id = group_of(ops, tenant, min_online=2)
    body = {"address": "203.0.113.5", "port": 80, "group": group_id}
    first = ops.post("/api/v1/nodes", {**body, "name": "a"}, format="json").json()
    down = NodeFactory(tenant=tenant, status=Status.DOWN)
    assert ops.patch(f"/api/v1/nodes/{down.pk}", {"group": group_id}, format="json").status_code == 200
    assert status_of(ops, group_id) == "down"  # a down member joined a 2-of-2 group with an unchecked one
    assert ops.delete(f"/api/v1/nodes/{down.pk}").status_code == 204
    assert ops.delete(f"/api/v1/nodes/{first['id']}").status_code == 204
    assert not Incident.objects.filter(group_id=group_id).exists()


def test_editing_min_online_is_quiet(ops, tenant):
    group = NodeGroupFactory(tenant=tenant, min_online=1)
    NodeFactory(tenant=tenant, group=group, status=Status.UP)
    NodeFactory(tenant=tenant, group=group, status=Status.DOWN)
    url = f"/api/v1/node-groups/{group.pk}"
    assert ops.patch(url, {"min_online": 2}, format="json").json()["status"] == "down"
    assert ops.patch(url, {"min_online": 1}, format="json").json()["status"] == "degraded"
    assert not Incident.objects.exists()


def test_a_check_result_still_opens_the_incident_of_a_group_configuration_left_down(ops, tenant, allow_private):
    group = NodeGroupFactory(tenant=tenant, min_online=2)
    NodeFactory(tenant=tenant, group=group, status=Status.DOWN)
    failing = NodeFactory(tenant=tenant, port=closed_port(), status=Status.UP)
    assert ops.patch(f"/api/v1/nodes/{failing.pk}", {"group": str(group.pk)}, format="json").status_code == 200
    group.refresh_from_db()
    assert group.status == Status.DOWN and not Incident.objects.exists()
    for _ in range(2):  # the threshold: the member goes down by its checks
        ops.post(f"/api/v1/nodes/{failing.pk}/check")
    incident = Incident.objects.get(group=group)
    assert incident.state == Incident.State.OPEN


def test_configuration_that_brings_a_down_group_back_resolves_its_incident(ops, tenant):
    group = NodeGroupFactory(tenant=tenant, min_online=2, status=Status.DOWN)
    NodeFactory(tenant=tenant, group=group, status=Status.UP)
    NodeFactory(tenant=tenant, group=group, status=Status.DOWN)
    incident = Incident.objects.create(tenant=tenant, group=group, title="Group bridge is down",
                                       opened_at=group.created_at)
    assert ops.patch(f"/api/v1/node-groups/{group.pk}", {"min_online": 1}, format="json").status_code == 200
    incident.refresh_from_db()
    assert incident.state == Incident.State.RESOLVED

"""A PATCH racing a DELETE of the same row, through the API on real PostgreSQL connections.

Before the fix `Model.save()` fell back to INSERT when its UPDATE matched nothing, so a PATCH
that had loaded the row just before the DELETE committed brought it back (node groups 9 of 25,
alert channels 5 of 25), and re-fetches under a lock answered 500 `DoesNotExist`.
"""
import textwrap
import threading
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone

from monitoring import alerts
from monitoring.models import AlertChannel, MaintenanceWindow, Node, NodeGroup
from orchestration import services as orchestration
from orchestration.models import Agent, Cluster
from tenants.models import Membership
from tenants.policy import Role
from tests.conftest import bearer_client
from tests.factories import MembershipFactory, TenantFactory, UserFactory
from tests.monitoring.factories import NodeFactory, NodeGroupFactory

ITERATIONS = 25
CLUSTER = textwrap.dedent(
    """
    name: raced-{n}
    steps:
      - id: one
        satellite: echo
        inputs: {{message: hi}}
    """
)


def _node(tenant, n):
    group = NodeGroupFactory(tenant=tenant)
    return Node, NodeFactory(tenant=tenant, group=group).pk, "nodes", "patch", {"name": f"renamed-{n}", "port": 10}


def _group(tenant, n):
    group = NodeGroupFactory(tenant=tenant)
    NodeFactory(tenant=tenant, group=group)
    return NodeGroup, group.pk, "node-groups", "patch", {"min_online": 2, "name": f"renamed-{n}"}


def _channel(tenant, n):
    channel, _secret = alerts.alert_channel_create(tenant=tenant, name=f"hook-{n}", kind="webhook",
                                                   url="https://example.com/hook")
    return AlertChannel, channel.pk, "alert-channels", "patch", {"name": f"renamed-{n}"}


def _window(tenant, n):
    now = timezone.now()
    window = MaintenanceWindow.objects.create(tenant=tenant, name=f"window-{n}", starts_at=now,
                                              ends_at=now + timedelta(hours=1))
    return MaintenanceWindow, window.pk, "maintenance-windows", "patch", {"name": f"renamed-{n}"}


def _agent(tenant, n):
    agent = orchestration.agent_create(tenant=tenant, name=f"agent-{n}", prompt="hi", model="tiny-1")
    return Agent, agent.pk, "agents", "patch", {"description": f"changed {n}"}


def _cluster(tenant, n):
    cluster = orchestration.cluster_create(tenant=tenant, definition=CLUSTER.format(n=n))
    body = {"definition": CLUSTER.format(n=n).replace("hi", "changed")}
    return Cluster, cluster.pk, "clusters", "put", body


def _member(tenant, n):
    membership = MembershipFactory(tenant=tenant, role=Role.MEMBER, user=UserFactory())
    url = f"tenants/{tenant.slug}/members/{membership.user_id}"
    return Membership, membership.pk, url, "patch", {"role": Role.VIEWER}


RESOURCES = {"node": _node, "node-group": _group, "alert-channel": _channel, "maintenance-window": _window,
             "agent": _agent, "cluster": _cluster, "member": _member}


def _race(client_factory, method: str, url: str, body: dict) -> dict:
    barrier = threading.Barrier(2)
    statuses: dict[str, object] = {}

    def call(name: str) -> None:
        client = client_factory()
        barrier.wait()
        try:
            response = client.delete(url) if name == "delete" else getattr(client, method)(url, body, format="json")
            statuses[name] = (response.status_code, response.content[:300])
        except Exception as exc:  # reported by the assertion below, with its type
            statuses[name] = (type(exc).__name__, str(exc)[:300])
        finally:
            connections.close_all()

    threads = [threading.Thread(target=call, args=(name,)) for name in ("update", "delete")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return statuses


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("resource", sorted(RESOURCES))
def test_a_concurrent_delete_wins_over_an_update_and_the_update_answers_404(resource):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent connections need PostgreSQL (CI); SQLite's test database serialises them")
    tenant = TenantFactory()
    owner = MembershipFactory(tenant=tenant, role=Role.OWNER, user=UserFactory()).user

    def client_factory():
        return bearer_client(owner, tenant)

    # Each test client builds its own handler; the first one registers the metrics middleware's
    # collectors, which is not thread-safe (a production process builds its handler once).
    assert client_factory().get("/api/v1/nodes").status_code == 200
    resurrected, unexpected = [], []
    for n in range(ITERATIONS):
        model, pk, path, method, body = RESOURCES[resource](tenant, n)
        url = f"/api/v1/{path}" if path.startswith("tenants/") else f"/api/v1/{path}/{pk}"
        statuses = _race(client_factory, method, url, body)
        if statuses.get("delete", (None,))[0] != 204 or statuses.get("update", (None,))[0] not in (200, 404):
            unexpected.append(statuses)
        if model.objects.filter(pk=pk).exists():
            resurrected.append(n)
    assert (resurrected, unexpected) == ([], []), f"{len(resurrected)} of {ITERATIONS} resurrected"

"""Scheduling: claims, per-node intervals, and beat dispatch through a real Celery worker."""
import time
from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone

from monitoring import services, tasks
from monitoring.models import Node, Snapshot, Status
from tests.monitoring.factories import NodeFactory


def wait_for(predicate, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except OperationalError:  # SQLite's shared in-memory test database is locked by a writer
            pass
        time.sleep(0.1)
    return False


@pytest.mark.django_db
def test_a_claim_moves_each_due_node_one_interval_ahead_and_a_second_claim_gets_nothing(tenant):
    now = timezone.now()
    fast = NodeFactory(tenant=tenant, interval_seconds=30, next_check_at=now - timedelta(seconds=1))
    slow = NodeFactory(tenant=tenant, interval_seconds=300, next_check_at=now)
    NodeFactory(tenant=tenant, next_check_at=now + timedelta(seconds=45))  # not due yet
    NodeFactory(tenant=tenant, enabled=False, next_check_at=now)  # paused

    token, claimed = services.nodes_claim_due(now=now)
    assert set(claimed) == {fast.pk, slow.pk}
    fast.refresh_from_db()
    slow.refresh_from_db()
    assert (fast.claim_token, fast.next_check_at) == (token, now + timedelta(seconds=30))
    assert slow.next_check_at == now + timedelta(seconds=300)

    # An overlapping dispatcher (second beat) at the same moment finds nothing to do.
    assert services.nodes_claim_due(now=now)[1] == []
    # One interval later only the 30 s node is due again.
    assert services.nodes_claim_due(now=now + timedelta(seconds=30))[1] == [fast.pk]


@pytest.mark.django_db
def test_a_batch_skips_nodes_that_a_later_claim_took_over(tenant, allow_private, server):
    node = NodeFactory(tenant=tenant, port=server.port)
    old_token, ids = services.nodes_claim_due()
    Node.objects.filter(pk=node.pk).update(next_check_at=timezone.now())
    services.nodes_claim_due()  # re-claimed by a newer batch
    assert services.nodes_run_claimed(token=old_token, node_ids=ids) == []
    assert server.hits == []


@pytest.mark.django_db
def test_the_claim_batch_size_is_respected(tenant, settings):
    for _ in range(5):
        NodeFactory(tenant=tenant)
    assert len(services.nodes_claim_due(limit=3)[1]) == 3
    assert len(services.nodes_claim_due(limit=3)[1]) == 2


@pytest.mark.worker
def test_beat_dispatch_checks_every_due_node_once_through_a_real_worker(live_worker, tenant, allow_private, server,
                                                                          settings):
    settings.MONITORING_DISPATCH_BATCH_SIZE = 4  # several batches, run concurrently by the worker
    nodes = [NodeFactory(tenant=tenant, port=server.port, path=f"/ok?n={i}") for i in range(10)]
    down = NodeFactory(tenant=tenant, port=1, status=Status.UP)

    # Two dispatches at once, as two beat processes would send them.
    tasks.dispatch_due_checks.delay()
    tasks.dispatch_due_checks.delay()

    assert wait_for(lambda: Snapshot.objects.count() >= 11), Snapshot.objects.count()
    time.sleep(0.5)  # any duplicate check would land by now
    assert Snapshot.objects.count() == 11
    for node in nodes:
        node.refresh_from_db()
        assert node.status == Status.UP
        assert node.next_check_at > timezone.now() + timedelta(seconds=50)
    down.refresh_from_db()
    assert (down.consecutive_failures, down.status) == (1, Status.UP)  # threshold 2: not down yet
    # Every node was contacted. (On SQLite's in-memory test database a batch may hit "table is
    # locked" and retry; its checks then reach the server again, but only one is recorded.)
    assert {hit[1] for hit in server.hits} == {f"/ok?n={i}" for i in range(10)}

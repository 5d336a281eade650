"""Factories of the monitoring tests."""
import factory
from django.utils import timezone

from monitoring.models import Incident, Node, NodeGroup, Snapshot, Status
from tests.factories import TenantFactory


class NodeGroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = NodeGroup

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"group-{n}")
    min_online = 1


class NodeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Node

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"node-{n}")
    address = "127.0.0.1"
    port = 9
    path = "/ok"
    interval_seconds = 60
    timeout_seconds = 2
    next_check_at = factory.LazyFunction(timezone.now)


class SnapshotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Snapshot

    node = factory.SubFactory(NodeFactory)
    tenant = factory.LazyAttribute(lambda o: o.node.tenant)
    checked_at = factory.LazyFunction(timezone.now)
    status = Status.UP
    latency_ms = 42.0


class IncidentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Incident

    node = factory.SubFactory(NodeFactory)
    tenant = factory.LazyAttribute(lambda o: o.node.tenant)
    title = "Node is down"
    opened_at = factory.LazyFunction(timezone.now)

"""Factories of the console tests: rows the dashboard counts, written the cheap way."""
import uuid
from datetime import timedelta

import factory
from django.utils import timezone

from apikeys.models import ApiCall
from monitoring.models import Heartbeat, Node, Status
from orchestration.models import Run, RunStatus
from tests.factories import TenantFactory, UserFactory


class StaffFactory(UserFactory):
    is_staff = True


class RunFactory(factory.django.DjangoModelFactory):
    """A one-satellite execution row (no engine involved): for counting, not for running."""

    class Meta:
        model = Run

    tenant = factory.SubFactory(TenantFactory)
    kind = Run.Kind.EXECUTION
    satellite = "echo"
    status = RunStatus.SUCCEEDED


class ApiCallFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ApiCall

    id = factory.LazyFunction(uuid.uuid4)
    tenant = factory.SubFactory(TenantFactory)
    route = "/api/v1/nodes"
    method = "GET"
    status = 200
    duration_ms = 12.5
    created_at = factory.LazyFunction(timezone.now)


class HeartbeatFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Heartbeat
        django_get_or_create = ("key",)

    key = "beat"
    worker = "celery@worker-1"
    sent_at = factory.LazyFunction(lambda: timezone.now() - timedelta(seconds=1))
    seen_at = factory.LazyFunction(timezone.now)


def seed_nodes(tenant, *, statuses: dict[str, int], group=None, enabled: bool = True) -> list[Node]:
    """`statuses` like {"up": 3, "down": 1}; one INSERT however many."""
    rows = [
        Node(tenant=tenant, name=f"{status}-{uuid.uuid4().hex[:10]}", address="127.0.0.1", port=9,
             status=status, enabled=enabled, group=group)
        for status, count in statuses.items()
        for _ in range(count)
    ]
    return Node.objects.bulk_create(rows)


STATUSES = [s.value for s in Status]

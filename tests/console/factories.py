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


def seed_run(tenant, *, middle: int = 3, retried: bool = True):
    """A cluster run drawn from rows (no engine): `fetch` → `middle` parallel steps → `report`,
    plus an on_failure `page`. The steps end in every state a picture must show: fetch
    succeeded on its second attempt (the first retried), the middle ones succeeded, failed,
    running and queued in turn, report pending, page skipped. Returns (run, attempts drawn)."""
    from orchestration import services
    from orchestration.models import ClusterVersion, StepLog, StepRun, StepStatus

    names = [f"work-{i}" for i in range(middle)]
    definition = f"name: pictured-{uuid.uuid4().hex[:8]}\nsteps:\n  - {{id: fetch, satellite: echo}}\n"
    definition += "".join(f"  - {{id: {n}, satellite: echo, depends_on: [fetch]}}\n" for n in names)
    definition += f"  - {{id: report, satellite: echo, depends_on: [{', '.join(names)}]}}\n"
    definition += "on_failure:\n  - {id: page, satellite: echo}\n"
    cluster = services.cluster_create(tenant=tenant, definition=definition, actor=None)
    version = ClusterVersion.objects.get(cluster=cluster, version=cluster.version)
    t0 = timezone.now() - timedelta(minutes=10)
    run = Run.objects.create(tenant=tenant, kind=Run.Kind.CLUSTER, cluster=cluster, cluster_version=version,
                             version=version.version, status=RunStatus.RUNNING, started_at=t0)
    cycle = [StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.RUNNING, StepStatus.QUEUED]
    steps, logs, attempts = [], [], 0

    def step(position, step_id, status, n, start=None, end=None, **extra):
        steps.append(StepRun(run=run, step_id=step_id, satellite="echo", position=position, status=status,
                             attempts=n, started_at=start, finished_at=end, **extra))

    fetch_attempts = 2 if retried else 1
    step(0, "fetch", StepStatus.SUCCEEDED, fetch_attempts, t0 + timedelta(seconds=20), t0 + timedelta(seconds=30))
    if retried:
        logs += [("fetch", 1, t0), ("fetch", 1, t0 + timedelta(seconds=5))]
    attempts += fetch_attempts
    for i, name in enumerate(names):
        status = cycle[i % len(cycle)]
        start = t0 + timedelta(seconds=40 + i)
        if status == StepStatus.QUEUED:
            step(i + 1, name, status, 0, queued_at=start)
        elif status == StepStatus.RUNNING:
            step(i + 1, name, status, 1, start)
        else:
            step(i + 1, name, status, 1, start, start + timedelta(seconds=30), error="boom" * (status == "failed"))
        attempts += 1
    step(middle + 1, "report", StepStatus.PENDING, 0)
    step(middle + 2, "page", StepStatus.SKIPPED, 0, is_handler=True)
    StepRun.objects.bulk_create(steps)
    StepLog.objects.bulk_create([StepLog(run=run, step_id=s, attempt=n, message=f"{s}#{n}") for s, n, _ in logs])
    for (*_, at), log in zip(logs, StepLog.objects.filter(run=run).order_by("id"), strict=True):
        StepLog.objects.filter(pk=log.pk).update(created_at=at)  # auto_now_add: set the time afterwards
    return run, attempts


def seed_tenant_page(tenant, *, days: int = 30, keys: int = 3, members: int = 2):
    """What a tenant's console page summarises, written as rows: usage rollups on `days` of the
    last 30 (requests 10×day-index, errors = index), keys active / revoked / expired in turn,
    members, a subscription with an invoice, two recommendation models, stored bytes."""
    from apikeys.models import LATENCY_BUCKETS_MS, UsageRollup
    from billing.models import Invoice
    from billing.services import subscription_ensure
    from files.models import StorageUsage
    from recommendations.models import RecommendationModel
    from tests.apikeys.factories import make_key
    from tests.factories import MembershipFactory

    today = timezone.now().date()
    UsageRollup.objects.bulk_create([
        UsageRollup(tenant=tenant, day=today - timedelta(days=i), route="/api/v1/nodes", requests=10 * (i + 1),
                    errors=i, histogram=[0] * (len(LATENCY_BUCKETS_MS) + 1))
        for i in range(days)
    ])
    now = timezone.now()
    for i in range(keys):
        key, _ = make_key(tenant, name=f"key-{i}")
        if i % 3:  # then revoked, then expired
            field = "revoked_at" if i % 3 == 1 else "expires_at"
            setattr(key, field, now - timedelta(days=1))
            key.save(update_fields=[field])
    for _ in range(members):
        MembershipFactory(tenant=tenant)
    subscription = subscription_ensure(tenant=tenant)
    Invoice.objects.create(tenant=tenant, subscription=subscription, number=f"GS-{uuid.uuid4().hex[:6]}",
                           period_start=now - timedelta(days=30), period_end=now, status=Invoice.Status.PAID,
                           currency="eur", total_cents=2900)
    for version, status in ((1, "ready"), (2, "training")):
        RecommendationModel.objects.create(tenant=tenant, version=version, status=status,
                                           metrics={"ndcg_at_10": 0.4211, "recall_at_10": 0.3})
    StorageUsage.objects.update_or_create(tenant=tenant, defaults={"bytes_used": 5 * 1024 * 1024})
    from deployments.models import Host, Project

    host = Host.objects.create(tenant=tenant, name="edge-host", address="127.0.0.1", username="deploy")
    Project.objects.create(tenant=tenant, name="web-shop", host=host, directory="/srv/web-shop", config_hash="0" * 64)

"""The console's list pages cost the same number of queries for 3 rows as for 30: related
objects are joined or annotated, never fetched per row."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.audit import audit_record
from orchestration.models import Run, RunStatus, StepRun
from tenants.policy import Role
from tests.apikeys.factories import make_key
from tests.console.factories import ApiCallFactory, RunFactory, seed_nodes
from tests.factories import MembershipFactory, TenantFactory, UserFactory
from tests.monitoring.factories import IncidentFactory, NodeGroupFactory, SnapshotFactory
from tests.orchestration.factories import make_cluster

pytestmark = pytest.mark.django_db

CLUSTER = "name: {name}\nsteps:\n  - id: a\n    satellite: echo\n    inputs: {{message: hi}}\n"


def seed_nodes_in_groups(n: int) -> None:
    for _ in range(n):
        tenant = TenantFactory()
        seed_nodes(tenant, statuses={"up": 1}, group=NodeGroupFactory(tenant=tenant))


def seed_snapshots(n: int) -> None:
    for _ in range(n):
        SnapshotFactory()


def seed_api_calls(n: int) -> None:
    for _ in range(n):
        tenant = TenantFactory()
        key, _ = make_key(tenant)
        ApiCallFactory(tenant=tenant, api_key=key, user=UserFactory())


def seed_runs(n: int) -> None:
    for i in range(n):
        tenant = TenantFactory()
        cluster = make_cluster(tenant, CLUSTER.format(name=f"c{i}"))
        run = RunFactory(tenant=tenant, kind=Run.Kind.CLUSTER, cluster=cluster, version=1,
                         status=RunStatus.SUCCEEDED, started_at=timezone.now(), finished_at=timezone.now())
        StepRun.objects.create(run=run, step_id="a", satellite="echo")


def seed_executions(n: int) -> None:
    for _ in range(n):
        RunFactory(created_by=UserFactory())


def seed_audit_events(n: int) -> None:
    for _ in range(n):
        tenant = TenantFactory()
        audit_record(action="tenant.status.suspended", target=tenant, actor=UserFactory(), tenant=tenant,
                     changes={"status": ["active", "suspended"]})


def seed_tenants_with_members(n: int) -> None:
    for _ in range(n):
        tenant = TenantFactory()
        MembershipFactory.create_batch(2, tenant=tenant, role=Role.ADMIN)


def seed_memberships(n: int) -> None:
    MembershipFactory.create_batch(n)


def seed_keys(n: int) -> None:
    for _ in range(n):
        key, _ = make_key(TenantFactory())
        key.created_by = UserFactory()
        key.save(update_fields=["created_by"])


def seed_incidents(n: int) -> None:
    for _ in range(n):
        incident = IncidentFactory()
        incident.acknowledged_by = UserFactory()
        incident.acknowledged_at = timezone.now()
        incident.save()


def seed_groups(n: int) -> None:
    for _ in range(n):
        group = NodeGroupFactory()
        seed_nodes(group.tenant, statuses={"up": 2, "down": 1}, group=group)


def seed_users(n: int) -> None:
    UserFactory.create_batch(n)


CHANGELISTS = [
    ("/admin/monitoring/node/", seed_nodes_in_groups),
    ("/admin/monitoring/snapshot/", seed_snapshots),
    ("/admin/apikeys/apicall/", seed_api_calls),
    ("/admin/orchestration/run/", seed_runs),
    ("/admin/orchestration/execution/", seed_executions),
    ("/admin/core/auditevent/", seed_audit_events),
    ("/admin/tenants/tenant/", seed_tenants_with_members),
    ("/admin/tenants/membership/", seed_memberships),
    ("/admin/apikeys/apikey/", seed_keys),
    ("/admin/monitoring/incident/", seed_incidents),
    ("/admin/monitoring/nodegroup/", seed_groups),
    ("/admin/accounts/user/", seed_users),
]


@pytest.mark.parametrize(("url", "seed"), CHANGELISTS, ids=[url.split("/")[3] for url, _ in CHANGELISTS])
def test_the_changelist_does_no_per_row_queries(admin_site_client, url, seed):
    seed(3)
    with CaptureQueriesContext(connection) as few:
        response = admin_site_client.get(url)
    assert response.status_code == 200
    shown_few = len(response.context["cl"].result_list)
    seed(27)
    with CaptureQueriesContext(connection) as many:
        response = admin_site_client.get(url)
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) > shown_few
    assert len(many) == len(few), "\n".join(q["sql"][:160] for q in many.captured_queries)

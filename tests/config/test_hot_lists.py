"""The hot list endpoints: constant queries at any page size, plain-data pages identical to the
serializers' output, and no serializer field machinery rebuilt per request (core/api/plain.py)."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework import serializers

from core.api import tenancy
from orchestration import services
from tenants.policy import Role
from tests.apikeys.conftest import key_client
from tests.apikeys.factories import make_key
from tests.conftest import bearer_client
from tests.factories import MembershipFactory, UserFactory
from tests.monitoring.factories import IncidentFactory, NodeFactory, NodeGroupFactory
from tests.orchestration.factories import make_cluster

# path → queries of the whole request, for an API key and for a person's JWT alike: the caller,
# its tenant and its role come from the credential's cached snapshot (no query), and the page
# carries the list's total (core/api/pagination.py), so what is left is the page itself
# (+ the runs' steps).
HOT_LISTS = {
    "/api/v1/nodes": 1,
    "/api/v1/clusters": 1,
    "/api/v1/api-keys": 1,
    "/api/v1/runs": 2,
    "/api/v1/incidents": 1,
    "/api/v1/usage": 1,
}
CLUSTER = """\
name: hot
steps:
  - id: a
    satellite: json.transform
    inputs: {data: 1, expression: "@"}
  - id: b
    satellite: json.transform
    depends_on: [a]
    inputs: {data: 2, expression: "@"}
"""


def populate(tenant, rows: int) -> None:
    group = NodeGroupFactory(tenant=tenant)
    cluster = make_cluster(tenant, CLUSTER)
    for n in range(rows):
        node = NodeFactory(tenant=tenant, group=group if n % 2 else None, tags=["a", "b"] if n % 3 else [])
        IncidentFactory(node=node)
        make_key(tenant, name=f"key {n}", scopes=["read"])
        services.run_trigger(cluster=cluster, inputs={}, actor=None)
        if n:
            make_cluster(tenant, CLUSTER.replace("name: hot", f"name: hot-{n}"))


@pytest.fixture
def busy_tenant(tenant):
    populate(tenant, 60)
    _, secret = make_key(tenant)
    return key_client(secret)


@pytest.mark.django_db
def test_a_hot_list_costs_the_same_few_queries_at_any_page_size_for_keys_and_people(tenant):
    populate(tenant, 200)
    _, secret = make_key(tenant)
    person = MembershipFactory(tenant=tenant, role=Role.ADMIN, user=UserFactory()).user  # admins list keys
    counts, queries_seen = {}, {}
    for caller, client in (("api key", key_client(secret)), ("jwt", bearer_client(person, tenant))):
        for path in HOT_LISTS:
            client.get(path)  # warm: the credential's snapshot
            for size in (1, 20, 200):
                with CaptureQueriesContext(connection) as queries:
                    response = client.get(f"{path}?page_size={size}")
                assert response.status_code == 200, (caller, path, response.content)
                if "results" in response.json():
                    assert len(response.json()["results"]) == size, (caller, path)
                counts[caller, path, size] = len(queries)
                queries_seen[caller, path, size] = [query["sql"][:120] for query in queries]
    expected = {(caller, path, size): HOT_LISTS[path] for caller, path, size in counts}
    assert counts == expected, {key: queries_seen[key] for key in counts if counts[key] != expected[key]}


@pytest.mark.django_db
@pytest.mark.parametrize("path", HOT_LISTS)
def test_plain_pages_are_exactly_the_serializers_output(busy_tenant, path, monkeypatch):
    plain = busy_tenant.get(f"{path}?page_size=50")
    monkeypatch.setattr(tenancy.TenantScopedViewSet, "get_serializer",
                        lambda self, *args, **kwargs: super(tenancy.TenantScopedViewSet, self).get_serializer(
                            *args, **kwargs))
    drf = busy_tenant.get(f"{path}?page_size=50")
    assert plain.status_code == drf.status_code == 200
    assert plain.json() == drf.json()


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/nodes", "/api/v1/api-keys", "/api/v1/runs", "/api/v1/incidents"])
def test_a_list_request_builds_no_serializer_fields(busy_tenant, path, monkeypatch):
    busy_tenant.get(f"{path}?page_size=20")  # the first request on this thread builds them once
    built = []
    original = serializers.ModelSerializer.get_fields

    def counting(self):
        built.append(type(self).__name__)
        return original(self)

    monkeypatch.setattr(serializers.ModelSerializer, "get_fields", counting)
    assert busy_tenant.get(f"{path}?page_size=20").status_code == 200
    assert built == []


@pytest.mark.django_db
def test_an_unfiltered_list_builds_no_filter_form_and_a_filtered_one_still_filters(busy_tenant, monkeypatch):
    import django_filters

    built = []
    original = django_filters.FilterSet.__init__

    def counting(self, *args, **kwargs):
        built.append(type(self).__name__)
        original(self, *args, **kwargs)

    monkeypatch.setattr(django_filters.FilterSet, "__init__", counting)
    assert busy_tenant.get("/api/v1/nodes?page_size=20").json()["count"] == 60
    assert built == []
    filtered = busy_tenant.get("/api/v1/nodes?enabled=maybe")
    assert filtered.status_code == 400 and "enabled" in filtered.json()["error"]["details"]
    assert busy_tenant.get("/api/v1/nodes?enabled=false").json()["count"] == 0
    assert built


@pytest.mark.django_db
def test_the_cached_tenant_and_role_follow_every_change_at_once(tenant):
    """Reads take tenant and role from the credential's snapshot; a change drops it (apikeys.signals)."""
    from tenants import services as tenant_services
    from tenants.models import Membership

    _, secret = make_key(tenant, scopes=["read"])
    key = key_client(secret)
    admin = MembershipFactory(tenant=tenant, role=Role.ADMIN, user=UserFactory())
    person = bearer_client(admin.user, tenant)
    assert key.get("/api/v1/nodes").status_code == person.get("/api/v1/api-keys").status_code == 200  # cached

    tenant_services.membership_change_role(membership=admin, role=Role.VIEWER)
    assert person.get("/api/v1/api-keys").status_code == 403  # viewers do not list keys
    assert person.get("/api/v1/nodes").status_code == 200

    tenant_services.tenant_suspend(tenant=tenant)
    assert key.get("/api/v1/nodes").status_code == person.get("/api/v1/nodes").status_code == 403

    tenant_services.tenant_reactivate(tenant=tenant)
    Membership.objects.get(pk=admin.pk).delete()
    assert person.get("/api/v1/nodes").status_code == 404  # no longer a member: the tenant is not found
    assert key.get("/api/v1/nodes").status_code == 200

"""The hot list endpoints: constant queries at any page size, plain-data pages identical to the
serializers' output, and no serializer field machinery rebuilt per request (core/api/plain.py)."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework import serializers

from core.api import tenancy
from orchestration import engine
from tests.apikeys.conftest import key_client
from tests.apikeys.factories import make_key
from tests.monitoring.factories import IncidentFactory, NodeFactory, NodeGroupFactory
from tests.orchestration.factories import make_cluster

# path → queries of the whole request: the tenant, the page's COUNT, the page (+ the runs' steps).
HOT_LISTS = {
    "/api/v1/nodes": 3,
    "/api/v1/api-keys": 3,
    "/api/v1/runs": 4,
    "/api/v1/incidents": 3,
    "/api/v1/usage": 2,
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


@pytest.fixture
def busy_tenant(tenant):
    group = NodeGroupFactory(tenant=tenant)
    for n in range(60):
        node = NodeFactory(tenant=tenant, group=group if n % 2 else None, tags=["a", "b"] if n % 3 else [])
        IncidentFactory(node=node)
        make_key(tenant, name=f"key {n}", scopes=["read"])
    cluster = make_cluster(tenant, CLUSTER)
    for _ in range(60):
        engine.run_trigger(cluster=cluster, inputs={}, actor=None)
    _, secret = make_key(tenant)
    return key_client(secret)


@pytest.mark.django_db
@pytest.mark.parametrize("path", HOT_LISTS)
def test_a_hot_list_costs_the_same_few_queries_at_any_page_size(busy_tenant, path):
    busy_tenant.get(path)  # warm: the key's snapshot
    counts = {}
    for size in (5, 50, 200):
        with CaptureQueriesContext(connection) as queries:
            response = busy_tenant.get(f"{path}?page_size={size}")
        assert response.status_code == 200, response.content
        counts[size] = len(queries)
    assert set(counts.values()) == {HOT_LISTS[path]}, counts


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

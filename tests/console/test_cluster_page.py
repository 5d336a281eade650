"""A cluster's page lists its versions and diffs two of them, escaped, in fixed queries."""
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from orchestration import services
from tests.factories import TenantFactory

V1 = "name: diffed\nsteps:\n  - {id: a, satellite: echo}\n"
V2 = "name: diffed\nsteps:\n  - {id: a, satellite: echo}\n  - {id: b, satellite: echo, depends_on: [a]}\n"
V3 = "name: diffed\ndescription: '<script>alert(1)</script>'\nsteps:\n  - {id: b, satellite: echo}\n"


def cluster_with_versions(count: int):
    cluster = services.cluster_create(tenant=TenantFactory(), definition=V1)
    for i in range(count - 1):
        cluster = services.cluster_update(cluster=cluster, definition=(V2, V3)[i % 2] + f"# edit {i}\n")
    return cluster


def open_page(client, cluster, **query):
    url = reverse("admin:orchestration_cluster_change", args=[cluster.pk])
    response = client.get(url, query)
    assert response.status_code == 200
    return response


def test_by_default_the_diff_is_from_the_previous_version_to_the_current(admin_site_client):
    cluster = cluster_with_versions(2)
    response = open_page(admin_site_client, cluster)
    assert [v["version"] for v in response.context["cluster_versions"]] == [2, 1]
    html = response.content.decode()
    assert "Changes from version 1 to version 2" in html
    assert '<span class="diff-added">+  - {id: b, satellite: echo, depends_on: [a]}</span>' in html
    assert '<span class="diff-removed">' not in html


def test_two_chosen_versions_are_diffed_and_the_yaml_is_escaped(admin_site_client):
    cluster = cluster_with_versions(3)
    html = open_page(admin_site_client, cluster, diff_from=1, diff_to=3).content.decode()
    assert "Changes from version 1 to version 3" in html
    assert '<span class="diff-removed">-  - {id: a, satellite: echo}</span>' in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html


def test_an_unknown_version_falls_back_to_the_default_pair(admin_site_client):
    cluster = cluster_with_versions(2)
    response = open_page(admin_site_client, cluster, diff_from="99", diff_to="x")
    assert (response.context["diff_from"], response.context["diff_to"]) == (1, 2)


def test_the_page_costs_the_same_queries_for_2_and_30_versions(admin_site_client):
    few, many = cluster_with_versions(2), cluster_with_versions(30)
    open_page(admin_site_client, few)
    with CaptureQueriesContext(connection) as small:
        open_page(admin_site_client, few)
    with CaptureQueriesContext(connection) as large:
        open_page(admin_site_client, many)
    assert len(large) == len(small)

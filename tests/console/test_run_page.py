"""A run's page draws its DAG and the timeline of its attempts, in a fixed number of queries."""
import re

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.console.factories import seed_run
from tests.factories import TenantFactory


def page(client, run):
    response = client.get(reverse("admin:orchestration_run_change", args=[run.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_the_graph_has_a_node_per_step_coloured_and_labelled_by_status(admin_site_client):
    run, _ = seed_run(TenantFactory(), middle=4)
    html = page(admin_site_client, run)
    nodes = re.findall(r'<a class="dag-node" href="#steps-(\d*)" data-step="([^"]+)" data-status="(\w+)" '
                       r'data-colour="([^"]+)"', html)
    assert {(step, status, colour) for _, step, status, colour in nodes} == {
        ("fetch", "succeeded", "#1a7f37"),
        ("work-0", "succeeded", "#1a7f37"),
        ("work-1", "failed", "#cf222e"),
        ("work-2", "running", "#0969da"),
        ("work-3", "queued", "#6e7781"),
        ("report", "pending", "#8c959f"),
        ("page", "skipped", "#8c959f"),
    }
    assert sorted(int(i) for i, *_ in nodes) == list(range(7))  # each links to its row in the steps table
    # One edge per dependency: fetch → 4 workers → report.
    assert len(re.findall(r'class="dag-edge"', html)) == 8
    assert "✗ work-1" in html and ">failed<" in html  # a glyph and a word, not colour alone


def test_the_timeline_has_a_bar_per_attempt_and_open_bars_for_queued_and_running(admin_site_client):
    run, attempts = seed_run(TenantFactory(), middle=4)
    html = page(admin_site_client, run)
    bars = re.findall(r'<g class="gantt-bar" data-step="([^"]+)" data-attempt="(\d+)" data-status="(\w+)" '
                      r'data-open="(\w+)"', html)
    assert len(bars) == attempts == 6
    assert ("fetch", "1", "retried", "no") in bars and ("fetch", "2", "succeeded", "no") in bars
    assert {(s, o) for s, _, st, o in bars if o == "yes"} == {("work-2", "yes"), ("work-3", "yes")}
    assert 'class="gantt-now"' in html


def test_the_run_page_costs_the_same_queries_for_3_and_60_steps(admin_site_client):
    tenant = TenantFactory()
    small, _ = seed_run(tenant, middle=1)
    large, _ = seed_run(tenant, middle=58)
    page(admin_site_client, small)  # warm caches (content types, site) outside the counts
    with CaptureQueriesContext(connection) as few:
        page(admin_site_client, small)
    with CaptureQueriesContext(connection) as many:
        html = page(admin_site_client, large)
    assert html.count('class="dag-node"') == 61
    assert len(many) == len(few)

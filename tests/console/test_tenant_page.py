"""A tenant's console page: usage per day, keys with state, members, plan, the apps' summaries;
in a fixed number of queries."""
import re

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from console.tenant_page import TenantPage
from tenants.models import Tenant
from tests.console.factories import seed_tenant_page
from tests.factories import PlanFactory, TenantFactory


def page(client, tenant):
    response = client.get(reverse("admin:tenants_tenant_change", args=[tenant.pk]))
    assert response.status_code == 200
    return response


def test_the_console_registers_the_tenant_page(admin_site_client):
    from django.contrib import admin

    assert type(admin.site._registry[Tenant]) is TenantPage


def test_it_shows_usage_per_day_keys_with_state_members_plan_and_the_apps(admin_site_client):
    tenant = TenantFactory(plan=PlanFactory(name="Pro", storage_bytes=50 * 1024 * 1024))
    seed_tenant_page(tenant, days=12, keys=3, members=2)
    response = page(admin_site_client, tenant)
    html = response.content.decode()
    usage = html[html.index('id="tenant-usage"'):html.index('id="tenant-plan"')]
    assert len(re.findall(r'<g class="bucket">', usage)) == 30  # one bar per day, days without traffic too
    assert response.context["usage_total"] == {"requests": sum(10 * (i + 1) for i in range(12)),
                                               "errors": sum(range(12))}
    # Unrevoked keys first, newest first; the revoked one last.
    assert re.findall(r'<tr data-state="(\w+)"><td>(key-\d)</td>', html) == [
        ("expired", "key-2"), ("active", "key-0"), ("revoked", "key-1")]
    assert "<strong>Pro</strong>" in html
    assert "5.0\xa0MB used of 50.0\xa0MB (10.0 %)" in html
    assert "0.421" in html and "GS-" in html
    assert "<td>web-shop</td><td>edge-host</td>" in html
    assert html.count("<tr><td>") >= 2  # members


def test_a_tenant_with_nothing_yet_renders(admin_site_client):
    html = page(admin_site_client, TenantFactory()).content.decode()
    assert "No deployment projects." in html
    assert "No API keys." in html and "No models trained." in html and "No invoices." in html
    assert "0\xa0bytes used, no quota" in html


def test_the_page_costs_the_same_queries_for_2_and_30_days(admin_site_client):
    small, large = TenantFactory(plan=PlanFactory()), TenantFactory(plan=PlanFactory())
    seed_tenant_page(small, days=2, keys=1, members=1)
    seed_tenant_page(large, days=30, keys=12, members=14)
    page(admin_site_client, small)
    with CaptureQueriesContext(connection) as few:
        page(admin_site_client, small)
    with CaptureQueriesContext(connection) as many:
        page(admin_site_client, large)
    assert len(many) == len(few)

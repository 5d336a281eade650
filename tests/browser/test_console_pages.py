"""The console's picture pages in a real headless Chromium at 1440 px: a run's DAG and
timeline, a cluster's version diff, a tenant's usage; and the main lists without horizontal
scrolling. Screenshots go to artifacts/screenshots/ (a few are copied to docs/img/console/)."""
from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from orchestration import services
from tests.browser.waits import left_page
from tests.console.factories import seed_run
from tests.factories import TenantFactory

pytestmark = pytest.mark.browser

WIDTH = 1440


@pytest.fixture
def wide(signed_in):
    signed_in.set_window_size(WIDTH, 1000)
    yield signed_in
    signed_in.set_window_size(1400, 1000)


def no_horizontal_scroll(browser) -> bool:
    return browser.execute_script(
        "return document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )


def test_a_runs_page_draws_its_dag_and_the_timeline_of_its_attempts(wide, live_server, screenshot):
    run, attempts = seed_run(TenantFactory(name="Acme", slug="acme"), middle=4)
    wide.get(f"{live_server.url}/admin/orchestration/run/{run.pk}/change/")

    nodes = wide.find_elements(By.CSS_SELECTOR, "#run-graph svg a.dag-node")
    assert len(nodes) == 7  # fetch, four workers, report, the on_failure step
    status = {n.get_attribute("data-step"): n.get_attribute("data-status") for n in nodes}
    assert status == {"fetch": "succeeded", "work-0": "succeeded", "work-1": "failed", "work-2": "running",
                      "work-3": "queued", "report": "pending", "page": "skipped"}
    fills = {n.get_attribute("data-step"): n.find_element(By.CSS_SELECTOR, "rect").get_attribute("fill")
             for n in nodes}
    assert fills["work-1"] == "#cf222e" and fills["fetch"] == "#1a7f37" and fills["work-2"] == "#0969da"
    # Without colour: the status is written in the node.
    failed = wide.find_element(By.CSS_SELECTOR, 'a.dag-node[data-step="work-1"]')
    assert "failed" in failed.find_element(By.CSS_SELECTOR, "text.dag-status").text
    assert len(wide.find_elements(By.CSS_SELECTOR, "#run-graph path.dag-edge")) == 8

    bars = wide.find_elements(By.CSS_SELECTOR, "#run-timeline g.gantt-bar")
    assert len(bars) == attempts
    assert {b.get_attribute("data-step") for b in bars if b.get_attribute("data-open") == "yes"} == {"work-2", "work-3"}

    # Keyboard: a node is a link to the step's row in the steps table.
    failed.send_keys("\n")
    assert wide.current_url.endswith("#steps-2")
    assert no_horizontal_scroll(wide)
    wide.execute_script("window.scrollTo(0, 0)")
    screenshot()


def test_a_clusters_page_diffs_two_chosen_versions(wide, live_server, screenshot):
    v1 = "name: nightly\nsteps:\n  - {id: fetch, satellite: echo}\n"
    v2 = v1 + "  - {id: report, satellite: echo, depends_on: [fetch]}\n"
    v3 = v2.replace("fetch, satellite: echo}", "fetch, satellite: echo, inputs: {text: hi}}")
    cluster = services.cluster_create(tenant=TenantFactory(), definition=v1)
    cluster = services.cluster_update(cluster=cluster, definition=v2)
    services.cluster_update(cluster=cluster, definition=v3)
    wide.get(f"{live_server.url}/admin/orchestration/cluster/{cluster.pk}/change/")
    assert "Changes from version 2 to version 3" in wide.find_element(By.ID, "diff-title").text

    wide.find_element(By.CSS_SELECTOR, 'input[name="diff_from"][value="1"]').click()
    compare = wide.find_element(By.ID, "compare-versions")
    compare.click()
    WebDriverWait(wide, 15).until(left_page(compare))
    assert "Changes from version 1 to version 3" in wide.find_element(By.ID, "diff-title").text
    added = [e.text for e in wide.find_elements(By.CSS_SELECTOR, "#version-diff .diff-added")]
    removed = [e.text for e in wide.find_elements(By.CSS_SELECTOR, "#version-diff .diff-removed")]
    assert removed == ["-  - {id: fetch, satellite: echo}"]
    assert added == ["+  - {id: fetch, satellite: echo, inputs: {text: hi}}",
                     "+  - {id: report, satellite: echo, depends_on: [fetch]}"]
    wide.execute_script(
        "document.getElementById('cluster-versions').scrollIntoView({block: 'start', behavior: 'instant'})"
    )
    screenshot()


def test_a_tenants_page_shows_usage_per_day_keys_members_and_the_apps(wide, live_server, screenshot):
    from tests.console.factories import seed_tenant_page
    from tests.factories import PlanFactory

    tenant = TenantFactory(name="Acme", slug="acme", plan=PlanFactory(name="Pro", storage_bytes=50 * 1024 * 1024))
    seed_tenant_page(tenant, days=21, keys=3, members=2)
    wide.get(f"{live_server.url}/admin/tenants/tenant/{tenant.pk}/change/")
    bars = wide.find_elements(By.CSS_SELECTOR, "#tenant-usage svg g.bucket")
    assert len(bars) == 30  # a bar per day of the last 30, empty days as a hairline
    rows = wide.find_elements(By.CSS_SELECTOR, "#tenant-keys tr[data-state]")
    states = [row.get_attribute("data-state") for row in rows]
    assert sorted(states) == ["active", "expired", "revoked"]
    revoked = wide.find_element(By.CSS_SELECTOR, '#tenant-keys tr[data-state="revoked"]')
    assert "revoked" in revoked.text  # the state is written, not only coloured
    assert len(wide.find_elements(By.CSS_SELECTOR, "#tenant-members tbody tr")) == 2
    assert "Pro" in wide.find_element(By.ID, "tenant-plan").text
    assert "10.0 %" in wide.find_element(By.ID, "tenant-storage").text
    assert "ready" in wide.find_element(By.ID, "tenant-models").text
    assert "paid" in wide.find_element(By.ID, "tenant-invoices").text
    assert no_horizontal_scroll(wide)
    screenshot()


def test_log_out_is_a_link_to_a_confirmation_page_and_first_forms_do_not_sign_out(wide, live_server, screenshot):
    from selenium.webdriver.support.ui import Select

    from tenants.models import Tenant

    tenant = TenantFactory(name="Acme", slug="acme")
    wide.get(f"{live_server.url}/admin/tenants/tenant/")
    wide.find_element(By.CSS_SELECTOR, f'input[name="_selected_action"][value="{tenant.pk}"]').click()
    Select(wide.find_element(By.NAME, "action")).select_by_value("suspend")
    go = wide.find_element(By.CSS_SELECTOR, 'button[name="index"]')
    go.click()
    WebDriverWait(wide, 15).until(left_page(go))
    # A script submitting the page's first form confirms the action: it does not sign out.
    first = wide.find_element(By.TAG_NAME, "form")
    wide.execute_script("document.forms[0].submit()")
    WebDriverWait(wide, 15).until(left_page(first))
    tenant.refresh_from_db()
    assert tenant.status == Tenant.Status.SUSPENDED
    assert wide.find_element(By.ID, "logout-link").is_displayed()  # still signed in

    wide.find_element(By.ID, "logout-link").click()
    assert wide.current_url.endswith("/admin/logout/confirm/")
    screenshot()
    confirm = wide.find_element(By.ID, "confirm-logout")
    confirm.click()
    WebDriverWait(wide, 15).until(left_page(confirm))
    wide.get(f"{live_server.url}/admin/")
    assert "/admin/login/" in wide.current_url


MAIN_LISTS = [
    "orchestration/run", "orchestration/execution", "orchestration/cluster", "orchestration/agenttask",
    "django_celery_beat/periodictask", "tenants/tenant", "tenants/membership", "tenants/invitation",
    "accounts/user", "accounts/personalaccesstoken",
    "recommendations/recommendationmodel", "recommendations/item", "recommendations/interaction",
    "billing/invoice", "billing/subscription", "billing/payment",
    "files/file", "files/fileshare", "files/fileuploadsession",
]


def seed_lists():
    """Rows with long names and ids on every main list: what made them scroll sideways."""
    from accounts.services import personal_token_create
    from recommendations.models import Interaction, Item
    from tenants.services import invitation_create
    from tests.console.factories import RunFactory, seed_tenant_page
    from tests.factories import PlanFactory, UserFactory
    from tests.files.factories import make_file

    long = "a-rather-long-tenant-name-for-an-operator-to-read"
    tenant = TenantFactory(name=long.title().replace("-", " "), slug=long, plan=PlanFactory(storage_bytes=10**9))
    seed_run(tenant, middle=3)
    RunFactory.create_batch(3, tenant=tenant, satellite="http-request-with-a-long-satellite-name")
    seed_tenant_page(tenant, days=3, keys=3, members=3)
    invitation_create(tenant=tenant, email="someone.with.a.very.long.address@example-company.com", role="member")
    personal_token_create(user=UserFactory(email="operator.with.a.long.address@example-company.com",
                                           name="Operator With A Long Name"), name="deploy token for the nightly job")
    item = Item.objects.create(tenant=tenant, external_id="sku-" + "9" * 40, title="A title " * 12)
    Interaction.objects.create(tenant=tenant, user_id="user-" + "7" * 40, item=item, type="view",
                               timestamp=item.created_at, received_at=item.created_at, event_id="evt-" + "1" * 40)
    make_file(tenant, name="quarterly-report-with-a-very-long-file-name-2026-q4-final-v2.pdf")


def test_the_main_lists_need_no_horizontal_scroll_at_1440_px(wide, live_server, screenshot):
    seed_lists()
    scrolling = []
    for name in MAIN_LISTS:
        wide.get(f"{live_server.url}/admin/{name}/")
        assert wide.find_element(By.ID, "changelist"), name
        # The page itself, and the results box (Django lets a wide table scroll inside it).
        table = wide.execute_script(
            "const r = document.querySelector('#changelist .results');"
            "return r ? [r.scrollWidth, r.clientWidth] : [0, 0]"
        )
        if not no_horizontal_scroll(wide) or table[0] > table[1]:
            scrolling.append((name, wide.execute_script("return document.documentElement.scrollWidth"), *table))
            screenshot(f"-{name.replace('/', '-')}")  # to see what pushes it
        if name == "orchestration/run":
            screenshot("-runs")
    assert scrolling == [], "\n".join(map(str, scrolling))

"""The fleet's console pages in a real headless Chromium at 1440 px: the node page's bar and
charts, the node list's bars, a group's members and quorum line, the lists that must read at a
glance (badges, no horizontal scroll). Screenshots land in artifacts/screenshots/."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from apikeys.models import ApiKey
from apikeys.services import api_key_revoke
from monitoring.models import Incident, NodeGroup, Status
from tests.apikeys.factories import make_key
from tests.browser.conftest import ARTIFACTS
from tests.console.factories import seed_nodes
from tests.console.fleet import roll_up, seed_history
from tests.factories import TenantFactory
from tests.monitoring.factories import IncidentFactory, NodeFactory, NodeGroupFactory

pytestmark = pytest.mark.browser

COLOURS = {"up": "rgb(26, 127, 55)", "degraded": "rgb(183, 121, 31)", "down": "rgb(207, 34, 46)"}
LONG_CAUSE = " ".join(["connect timeout"] * 30)
BACKGROUNDS = {key: value.replace("rgb(", "rgba(").replace(")", ", 1)") for key, value in COLOURS.items()}


@pytest.fixture
def wide(signed_in):
    signed_in.set_window_size(1440, 1000)
    yield signed_in
    signed_in.set_window_size(1400, 1000)


def element_shot(element, name: str) -> None:
    """A screenshot of one element (the page's own picture, without the sidebar) for docs/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    element.screenshot(str(ARTIFACTS / f"{name}.png"))


def no_horizontal_scroll(browser) -> bool:
    """Neither the page nor a list's own scroll box (Django wraps the table in one) scrolls sideways."""
    return browser.execute_script(
        "const boxes = [document.documentElement, ...document.querySelectorAll('#changelist .results')];"
        "return boxes.every(b => b.scrollWidth <= b.clientWidth);")


def cells(browser, css: str = "#check-bar rect.check-cell"):
    return browser.find_elements(By.CSS_SELECTOR, css)


def test_the_node_page_draws_its_last_90_checks_latency_and_uptime(wide, live_server, screenshot):
    node = NodeFactory(name="edge-1", status=Status.UP, tenant=TenantFactory(name="Acme", slug="acme"))
    seed_history(node, hours=7 * 24)
    roll_up()
    seed_history(node, hours=0.5, offset=3)
    IncidentFactory(tenant=node.tenant, node=node, title="edge-1 is down", cause="connection refused " * 20,
                    state=Incident.State.RESOLVED, opened_at=timezone.now() - timedelta(hours=3),
                    resolved_at=timezone.now() - timedelta(hours=2))
    IncidentFactory(tenant=node.tenant, node=node, title="edge-1 is down again", acknowledged_at=timezone.now())

    wide.get(f"{live_server.url}/admin/monitoring/node/{node.pk}/change/")

    drawn = cells(wide)
    assert len(drawn) == 90
    by_status = {}
    for cell in drawn:
        by_status.setdefault(cell.get_attribute("data-status"), set()).add(
            (cell.value_of_css_property("fill"), cell.get_attribute("height")))
    assert by_status["up"] == {(COLOURS["up"], "28.0")}
    assert by_status["down"] == {(COLOURS["down"], "9.3")}  # a third: readable without colour
    assert by_status["degraded"] == {(COLOURS["degraded"], "18.7")}
    tip = drawn[-1].find_element(By.TAG_NAME, "title").get_attribute("textContent")
    assert " UTC · " in tip
    day = wide.find_elements(By.CSS_SELECTOR, "#latency-day circle.latency-point")
    week = wide.find_elements(By.CSS_SELECTOR, "#latency-week circle.latency-point")
    # One dot per hour with checks: 24 (25 with the current hour) and 168 (169); the current
    # hour has none yet in its first minutes.
    assert 23 <= len(day) <= 25 and 167 <= len(week) <= 169
    assert float(wide.find_element(By.ID, "uptime-7d").text.rstrip(" %")) > 90
    states = [b.text for b in wide.find_elements(By.CSS_SELECTOR, "#fleet-incidents .console-badge")]
    assert states == ["acknowledged", "resolved"]
    assert no_horizontal_scroll(wide)
    screenshot()
    element_shot(wide.find_element(By.ID, "node-page"), "console_node_page")
    # The dark theme: chart text follows the admin's variables, the status colours stay.
    tick = wide.find_element(By.CSS_SELECTOR, "#latency-day text.chart-tick")
    light = tick.value_of_css_property("fill")
    wide.execute_script("document.documentElement.dataset.theme = 'dark'")
    assert tick.value_of_css_property("fill") != light
    assert drawn[0].value_of_css_property("fill") in COLOURS.values()
    element_shot(wide.find_element(By.ID, "node-page"), "console_node_page_dark")
    wide.execute_script("document.documentElement.dataset.theme = 'light'")
    # The checks as a table, one key press away.
    summary = wide.find_element(By.CSS_SELECTOR, "#node-checks details summary")
    summary.send_keys(" ")
    assert len(wide.find_elements(By.CSS_SELECTOR, "#node-checks details tbody tr")) == 90


def test_the_node_list_shows_a_bar_per_node_without_horizontal_scroll(wide, live_server, screenshot):
    tenant = TenantFactory(name="Acme", slug="acme")
    group = NodeGroupFactory(tenant=tenant, name="bridge-eu")
    nodes = seed_nodes(tenant, statuses={"up": 6, "degraded": 1, "down": 2}, group=group)
    for index, node in enumerate(nodes):
        seed_history(node, hours=3 + index, offset=index)
    NodeFactory(tenant=tenant, name="never-checked")

    wide.get(f"{live_server.url}/admin/monitoring/node/")

    rows = wide.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert len(rows) == 10
    for row in rows:
        bar_cells = row.find_elements(By.CSS_SELECTOR, "svg.check-bar rect")
        assert len(bar_cells) == 30
    # Node i has 3 + i hours of checks, six an hour; the bar holds the last 30.
    assert len(cells(wide, "#result_list rect.check-cell")) == sum(min(30, (3 + i) * 6) for i in range(9))
    assert {c.value_of_css_property("fill") for c in cells(wide, "#result_list rect.check-cell")} == set(
        COLOURS.values())
    assert no_horizontal_scroll(wide)
    screenshot()
    element_shot(wide.find_element(By.ID, "changelist"), "console_node_list")


def test_the_group_page_shows_members_and_the_quorum_line(wide, live_server, screenshot):
    tenant = TenantFactory(name="Acme", slug="acme")
    group = NodeGroupFactory(tenant=tenant, name="bridge-eu", min_online=2, status=Status.UP)
    NodeGroup.objects.filter(pk=group.pk).update(created_at=timezone.now() - timedelta(days=30))
    members = seed_nodes(tenant, statuses={"up": 3}, group=group)
    for index, node in enumerate(members):
        seed_history(node, hours=7 * 24, every_minutes=20, offset=index * 5)
    IncidentFactory(tenant=tenant, node=None, group=group, title="bridge-eu below quorum",
                    state=Incident.State.RESOLVED, opened_at=timezone.now() - timedelta(days=2),
                    resolved_at=timezone.now() - timedelta(days=2) + timedelta(hours=3))
    roll_up()

    wide.get(f"{live_server.url}/admin/monitoring/nodegroup/{group.pk}/change/")

    assert len(wide.find_elements(By.CSS_SELECTOR, "#group-members tr.member-row")) == 3
    assert len(wide.find_elements(By.CSS_SELECTOR, "#group-members svg.check-bar")) == 3
    assert len(wide.find_elements(By.CSS_SELECTOR, "#quorum rect.quorum-down")) == 1
    quorum = wide.find_element(By.CSS_SELECTOR, "#quorum line.quorum-line")
    assert quorum.value_of_css_property("stroke") == COLOURS["down"]
    points = wide.find_elements(By.CSS_SELECTOR, "#quorum circle.online-point")
    assert 168 <= len(points) <= 169
    assert "quorum: 2 of 3" in wide.find_element(By.ID, "group-quorum").text
    assert float(wide.find_element(By.ID, "uptime-7d").text.rstrip(" %")) < 100  # three hours down
    assert no_horizontal_scroll(wide)
    screenshot()
    element_shot(wide.find_element(By.ID, "group-page"), "console_group_page")


def test_the_key_list_shows_state_badges_and_scope_chips(wide, live_server, screenshot):
    tenant = TenantFactory(name="Acme", slug="acme")
    live, _ = make_key(tenant, name="ci-deploy", scopes=["read", "write", "execute"])
    revoked, _ = make_key(tenant, name="old-laptop", scopes=["read"])
    api_key_revoke(key=revoked)
    expired, _ = make_key(tenant, name="contractor", scopes=["read"])
    ApiKey.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(days=1))

    wide.get(f"{live_server.url}/admin/apikeys/apikey/")
    screenshot()

    states = {}
    for row in wide.find_elements(By.CSS_SELECTOR, "#result_list tbody tr"):
        name = row.find_element(By.CSS_SELECTOR, "th, td.field-name").text
        badge = row.find_element(By.CSS_SELECTOR, "td.field-state .console-badge")
        states[name] = (badge.text.lower(), badge.value_of_css_property("background-color"))
    assert states == {"ci-deploy": ("active", BACKGROUNDS["up"]), "old-laptop": ("revoked", BACKGROUNDS["down"]),
                      "contractor": ("expired", BACKGROUNDS["degraded"])}
    chips = wide.find_elements(By.CSS_SELECTOR, "#result_list tr td.field-scope_list .console-chip")
    assert sorted(c.text for c in chips) == ["execute", "read", "read", "read", "write"]
    assert "API keys and usage › API keys" in wide.find_element(By.CSS_SELECTOR, ".breadcrumbs").text
    assert no_horizontal_scroll(wide)
    element_shot(wide.find_element(By.ID, "changelist"), "console_key_list")

    # Scopes are edited with checkboxes; the key keeps a JSON list.
    wide.get(f"{live_server.url}/admin/apikeys/apikey/{live.pk}/change/")
    boxes = {b.get_attribute("value"): b for b in wide.find_elements(By.CSS_SELECTOR, 'input[name="scopes"]')}
    assert {v for v, b in boxes.items() if b.is_selected()} == {"read", "write", "execute"}
    boxes["execute"].send_keys(" ")  # keyboard: space toggles the focused box
    wide.find_element(By.NAME, "_save").click()
    WebDriverWait(wide, 10).until(lambda b: "/change/" not in b.current_url)
    live.refresh_from_db()
    assert live.scopes == ["read", "write"]


def test_the_incident_list_reads_at_a_glance(wide, live_server, screenshot):
    tenant = TenantFactory(name="Acme", slug="acme")
    node = NodeFactory(tenant=tenant, name="edge-7")
    IncidentFactory(tenant=tenant, node=node, title="edge-7 is down", cause=LONG_CAUSE)
    resolved_node = NodeFactory(tenant=tenant, name="edge-8")
    IncidentFactory(tenant=tenant, node=resolved_node, title="edge-8 was down", state=Incident.State.RESOLVED,
                    resolved_at=timezone.now())
    acked = NodeFactory(tenant=tenant, name="edge-9")
    IncidentFactory(tenant=tenant, node=acked, title="edge-9 is down", acknowledged_at=timezone.now())

    wide.get(f"{live_server.url}/admin/monitoring/incident/")
    screenshot()

    badges = [b.text.lower() for b in wide.find_elements(By.CSS_SELECTOR, "td.field-state_badge .console-badge")]
    assert sorted(badges) == ["acknowledged", "open", "resolved"]
    cause = wide.find_element(By.CSS_SELECTOR, ".field-short_title .console-quiet span")
    assert cause.get_attribute("title") == LONG_CAUSE
    assert len(cause.text) <= 60
    heights = [r.size["height"] for r in wide.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")]
    assert max(heights) < 70  # a line for the title, one for the cause, however long
    opened = wide.find_element(By.CSS_SELECTOR, "td.field-opened span")
    assert opened.get_attribute("title").endswith(" UTC") and opened.text.endswith("ago")
    assert no_horizontal_scroll(wide)


def test_the_dashboard_keeps_long_incidents_inside_their_card(wide, live_server):
    tenant = TenantFactory(name="Acme", slug="acme")
    for index in range(3):
        IncidentFactory(tenant=tenant, node=NodeFactory(tenant=tenant), title="edge-" + "x" * 120 + f"-{index}",
                        cause=LONG_CAUSE)

    wide.get(f"{live_server.url}/admin/dashboard/")

    card = wide.find_element(By.ID, "incidents")
    table = card.find_element(By.TAG_NAME, "table")
    card_right = card.rect["x"] + card.rect["width"]
    assert table.rect["x"] + table.rect["width"] <= card_right + 0.5
    link = table.find_element(By.CSS_SELECTOR, "tbody a")
    assert link.get_attribute("title").startswith("edge-xxx") and len(link.text) <= 60
    assert no_horizontal_scroll(wide)

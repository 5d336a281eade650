"""What the node and group pages of the console show above their forms: the latest checks,
latency and quorum charts, uptime per window, recent incidents. A fixed number of queries
whatever the number of checks, members' checks or days (tests/console/test_fleet_pages.py)."""
from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from monitoring import admin_charts, history
from monitoring.models import Node, NodeGroup

DAY = timedelta(days=1)
WEEK = timedelta(days=7)


def node_page(node: Node) -> dict:
    now = timezone.now()
    checks = history.node_recent_checks(node=node)
    week = history.node_hourly(node=node, start=now - WEEK, end=now)
    day = week[-24:]
    return {
        "node": node,
        "status_colour": admin_charts.colour(node.status),
        "checks": checks,
        "check_bar": admin_charts.check_bar(checks, slots=history.PAGE_CHECKS, cell=7, gap=2, height=28),
        "check_summary": admin_charts.summary(checks),
        "uptime": _windows(history.node_uptime(node=node, now=now)),
        "latency_day": admin_charts.latency_chart(day, label="Latency per hour, last 24 h (UTC)"),
        "latency_week": admin_charts.latency_chart(week, label="Latency per hour, last 7 days (UTC)",
                                                   daily_ticks=True),
        "incidents": _incidents(history.node_incidents(node=node)),
        "metrics": [(name, path, node.last_metrics.get(name)) for name, path in sorted(node.metrics.items())],
        "legend": _legend(),
    }


def group_page(group: NodeGroup) -> dict:
    now = timezone.now()
    members = history.group_members(group=group)
    recent = history.nodes_recent_checks(node_ids=[m.pk for m in members])
    rows = []
    for member in members:
        checks = recent.get(member.pk, [])
        rows.append({"node": member, "colour": admin_charts.colour(member.status), "summary":
                     admin_charts.summary(checks), "bar": admin_charts.check_bar(checks, slots=history.LIST_CHECKS)})
    hours = history.group_online_hourly(group=group, start=now - WEEK, end=now)
    spans = history.group_down_spans(group=group, start=now - history.UPTIME_WINDOWS["30d"], end=now)
    enabled = sum(1 for m in members if m.enabled)
    return {
        "group": group,
        "status_colour": admin_charts.colour(group.status),
        "members": rows,
        "enabled_members": enabled,
        "uptime": _windows(history.group_uptime(group=group, spans=spans, now=now)),
        "quorum_chart": admin_charts.quorum_chart(
            hours, min_online=group.min_online, members=enabled,
            down=[s for s in spans if (s[1] or now) > now - WEEK], now=now,
            label=f"Members online per hour against the quorum of {group.min_online}, last 7 days (UTC)",
        ),
        "incidents": _incidents(history.group_incidents(group=group)),
        "legend": _legend(),
    }


def _incidents(incidents) -> list[dict]:
    rows = []
    for incident in incidents:
        state = admin_charts.incident_state(incident)
        rows.append({"incident": incident, "state": state, "colour": admin_charts.INCIDENT_COLOURS[state]})
    return rows


def _windows(uptime: dict) -> list[tuple[str, float | None]]:
    return [(name, uptime[name]) for name in history.UPTIME_WINDOWS]


def _legend() -> list[tuple[str, str, str]]:
    return [(status, admin_charts.colour(status), shape) for status, shape in
            (("up", "full height"), ("degraded", "two thirds"), ("down", "one third"), ("unknown", "a stub"))]

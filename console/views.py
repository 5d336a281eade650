"""The dashboard: one admin page with the platform's state at a glance."""
from django.contrib.admin import AdminSite
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse

from console import charts, selectors

NODE_KEYS = ("up", "degraded", "down", "unknown")
RUN_KEYS = ("succeeded", "running", "queued", "failed", "timed_out", "cancelled")
LINKED_MODELS = {"nodes": "monitoring_node", "incidents": "monitoring_incident", "runs": "orchestration_run"}


def _changelist(site: AdminSite, name: str) -> str | None:
    """The changelist URL of a registered model, or None (the dashboard never depends on it)."""
    try:
        return reverse(f"{site.name}:{name}_changelist", current_app=site.name)
    except NoReverseMatch:
        return None


def _refresh_seconds(request: HttpRequest) -> int | None:
    try:
        seconds = int(request.GET.get("refresh", ""))
    except ValueError:
        return None
    return min(max(seconds, 10), 600)


def dashboard_view(request: HttpRequest, *, site: AdminSite) -> HttpResponse:
    data = selectors.dashboard()
    nodes, runs, api = data["nodes"], data["runs"], data["api"]
    for group in data["groups"]["rows"]:
        group.colour = charts.colour(group.status)
    peak = max([t["requests"] for t in api["top_tenants"]] or [0])
    for tenant in api["top_tenants"]:
        tenant["meter"] = charts.meter(tenant["requests"], peak, label=f"{tenant['requests']} requests")
    context = {
        **site.each_context(request),
        "title": "Dashboard",
        "subtitle": None,
        **data,
        "refresh_seconds": _refresh_seconds(request),
        "links": {key: _changelist(site, name) for key, name in LINKED_MODELS.items()},
        "node_figures": [(key, nodes[key], charts.colour(key)) for key in NODE_KEYS],
        "run_legend": [(key, runs["totals"][key], charts.colour(key)) for key in RUN_KEYS],
        "fleet_bar": charts.proportion_bar(nodes, keys=(*NODE_KEYS, "paused"), label="Nodes by status"),
        "runs_chart": charts.stacked_bars(
            runs["per_hour"], keys=RUN_KEYS, times=runs["hours"], label="Runs per hour by status, last 24 h"
        ),
        "requests_chart": charts.stacked_bars(
            [{"requests": b["requests"] - b["limited"], "limited": b["limited"]} for b in api["per_hour"]],
            keys=("requests", "limited"),
            times=api["hours"],
            label="API requests per hour (red: rate-limited), last 24 h",
        ),
        "requests_sparkline": charts.sparkline(
            [b["requests"] for b in api["per_hour"]], label="Requests per hour, last 24 h"
        ),
        "limited_sparkline": charts.sparkline(
            [b["limited"] for b in api["per_hour"]], label="429s per hour, last 24 h", stroke=charts.colour("limited")
        ),
        "colours": charts.STATUS_COLOURS,
    }
    request.current_app = site.name
    return TemplateResponse(request, "admin/console/dashboard.html", context)


def landing_view(request: HttpRequest) -> HttpResponse:
    """`GET /`: what a new user opening the platform's address finds, in the admin's look."""
    from django.contrib import admin

    return TemplateResponse(request, "landing.html", {**admin.site.each_context(request), "title": "Groundstation"})

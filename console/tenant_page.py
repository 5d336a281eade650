"""A tenant's page in the console: its change form, with what an operator asks about a tenant
beside it — requests and errors per day over the last 30 days (the usage rollups), its keys
with their state, its members with their roles, its plan, and the summaries of the apps it
uses (recommendation models and their metrics, invoices, storage used, deployment projects).

The tenants app cannot draw this itself: those apps sit above it (tests/core/
test_architecture.py), so the console, which may import them all, registers this subclass of
`tenants.admin.TenantAdmin` in its place (console/admin.py). A fixed number of queries
whatever the number of days, keys, members, models or invoices (tests/console/
test_tenant_page.py).
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.db.models import F
from django.utils import timezone

from apikeys.models import ApiKey
from apikeys.selectors import usage_summary
from billing.selectors import invoice_list, subscription_of
from console import charts
from deployments.selectors import project_list
from files.selectors import storage_used
from recommendations.selectors import model_list
from tenants.admin import TenantAdmin
from tenants.models import Membership, Tenant

USAGE_DAYS = 30
SHOWN = 10  # keys, members, models and invoices listed on the page (then "N more")


def key_state(key: ApiKey, now: datetime) -> str:
    if key.is_revoked:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= now:
        return "expired"
    return "active"


def _first(queryset, limit: int = SHOWN) -> tuple[list, bool]:
    """The first `limit` rows and whether there are more, in one query."""
    rows = list(queryset[: limit + 1])
    return rows[:limit], len(rows) > limit


def tenant_overview(tenant: Tenant, *, now: datetime | None = None) -> dict:
    now = now or timezone.now()
    today = now.astimezone(UTC).date()
    first_day = today - timedelta(days=USAGE_DAYS - 1)
    usage = usage_summary(tenant=tenant, start=first_day, end=today, group_by="day")
    per_day = {group["key"]: group for group in usage["groups"]}
    days = [first_day + timedelta(days=i) for i in range(USAGE_DAYS)]
    buckets = []
    for day in days:
        group = per_day.get(day.isoformat(), {"requests": 0, "errors": 0})
        buckets.append({"requests": group["requests"] - group["errors"], "errors": group["errors"]})
    keys, more_keys = _first(
        ApiKey.objects.for_tenant(tenant).order_by(F("revoked_at").asc(nulls_first=True), "-created_at")
    )
    members, more_members = _first(
        Membership.objects.filter(tenant=tenant).select_related("user").order_by("role", "user__email")
    )
    models, more_models = _first(model_list(tenant=tenant).order_by("-version"), 5)
    invoices, more_invoices = _first(invoice_list(tenant=tenant).prefetch_related(None).order_by("-period_start"), 5)
    projects, more_projects = _first(project_list(tenant=tenant).order_by("name"))
    plan = tenant.plan
    used = storage_used(tenant=tenant)
    quota = plan.storage_bytes if plan else None
    return {
        "usage_days": USAGE_DAYS,
        "usage_total": usage["total"],
        "usage_chart": charts.stacked_bars(
            buckets, keys=("requests", "errors"), times=days, tip_format="%Y-%m-%d",
            label=f"Requests per day (orange: errors), last {USAGE_DAYS} days (UTC)", width=600, height=100,
        ),
        "usage_first_day": first_day,
        "usage_last_day": today,
        "keys": [(key, key_state(key, now)) for key in keys],
        "more_keys": more_keys,
        "members": members,
        "more_members": more_members,
        "plan": plan,
        "subscription": subscription_of(tenant=tenant),
        "invoices": invoices,
        "more_invoices": more_invoices,
        "rec_models": models,
        "more_rec_models": more_models,
        "projects": projects,
        "more_projects": more_projects,
        "storage": {"used": used, "quota": quota, "share": round(used / quota * 100, 1) if quota else None},
    }


class TenantPage(TenantAdmin):
    change_form_template = "admin/console/tenant_change_form.html"

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context.update(tenant_overview(obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

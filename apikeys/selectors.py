"""Reads of the apikeys app, always scoped to one tenant."""
from __future__ import annotations

from datetime import date
from math import ceil

from apikeys.models import LATENCY_BUCKETS_MS, UsageRollup
from tenants.models import Tenant


def _percentile(histogram: list[int], total: int, fraction: float) -> float | None:
    """Upper bound of the bucket holding the given fraction of calls."""
    if not total:
        return None
    rank = max(1, ceil(total * fraction))
    seen = 0
    for index, count in enumerate(histogram):
        seen += count
        if seen >= rank:
            return LATENCY_BUCKETS_MS[min(index, len(LATENCY_BUCKETS_MS) - 1)]
    return LATENCY_BUCKETS_MS[-1]


def usage_summary(*, tenant: Tenant, start: date, end: date, group_by: str) -> dict:
    """`/api/v1/usage` (docs/apikeys-and-usage.md): totals and groups by day, endpoint or API key (inclusive days)."""
    field = {"day": "day", "endpoint": "route", "api_key": "api_key_id"}[group_by]
    rows = UsageRollup.objects.for_tenant(tenant).filter(day__gte=start, day__lte=end).values_list(
        field, "requests", "errors", "histogram"
    )
    groups: dict = {}
    for key, requests, errors, histogram in rows:
        key = key.isoformat() if isinstance(key, date) else (key or None)
        group = groups.setdefault(key, {"requests": 0, "errors": 0, "histogram": [0] * (len(LATENCY_BUCKETS_MS) + 1)})
        group["requests"] += requests
        group["errors"] += errors
        group["histogram"] = [a + b for a, b in zip(group["histogram"], histogram, strict=True)]
    result = []
    for key in sorted(groups, key=lambda k: (k is None, k or "")):
        group = groups[key]
        result.append({
            "key": key,
            "requests": group["requests"],
            "errors": group["errors"],
            "p50_ms": _percentile(group["histogram"], group["requests"], 0.50),
            "p95_ms": _percentile(group["histogram"], group["requests"], 0.95),
        })
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "total": {"requests": sum(g["requests"] for g in result), "errors": sum(g["errors"] for g in result)},
        "groups": result,
    }

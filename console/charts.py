"""Inline SVG charts drawn on the server: no JavaScript, no CDN, readable offline.

Every value that reaches the markup goes through `format_html`/`escape`.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

STATUS_COLOURS = {
    "up": "#2e7d32",
    "degraded": "#f9a825",
    "down": "#c62828",
    "unknown": "#9e9e9e",
    "paused": "#607d8b",
    "queued": "#90a4ae",
    "running": "#1e88e5",
    "succeeded": "#2e7d32",
    "failed": "#c62828",
    "cancelled": "#616161",
    "timed_out": "#ef6c00",
    "requests": "#417690",
    "limited": "#c62828",
    "errors": "#ef6c00",
}


def _n(value: float) -> str:
    """Coordinates as text with one decimal (format_html would turn numbers into SafeStrings)."""
    return f"{value:.1f}"


def colour(name: str) -> str:
    return STATUS_COLOURS.get(name, "#9e9e9e")


def _svg(width: int, height: int, label: str, body: str) -> SafeString:
    return format_html(
        '<svg class="console-chart" xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
        'viewBox="0 0 {w} {h}" role="img" aria-label="{label}"><title>{label}</title>{body}</svg>',
        w=width, h=height, label=label, body=mark_safe(body),  # noqa: S308 - body is built from escaped parts
    )


def sparkline(values: Sequence[float], *, label: str, width: int = 240, height: int = 36,
              stroke: str = STATUS_COLOURS["requests"]) -> SafeString:
    """A line over equally spaced values, scaled to the series' own maximum."""
    if not values:
        return _svg(width, height, label, "")
    peak = max(values) or 1
    step = width / max(len(values) - 1, 1)
    points = " ".join(
        f"{i * step:.1f},{height - 2 - (v / peak) * (height - 4):.1f}" for i, v in enumerate(values)
    )
    body = format_html(
        '<polyline fill="none" stroke="{}" stroke-width="1.5" stroke-linejoin="round" points="{}"/>',
        stroke, points,
    )
    return _svg(width, height, label, body)


def stacked_bars(
    buckets: Sequence[dict[str, int]],
    *,
    keys: Sequence[str],
    times: Sequence[datetime],
    label: str,
    width: int = 480,
    height: int = 90,
    tip_format: str = "%H:%M UTC",
) -> SafeString:
    """One bar per bucket (an hour, or a day with `tip_format="%Y-%m-%d"`), stacked by key in
    `keys` order, with a tooltip each."""
    if not buckets:
        return _svg(width, height, label, "")
    peak = max(sum(b.get(k, 0) for k in keys) for b in buckets) or 1
    slot = width / len(buckets)
    bar = max(slot - 2, 1)
    parts: list[str] = []
    for i, (bucket, start) in enumerate(zip(buckets, times, strict=True)):
        x = i * slot + 1
        y = float(height)
        tip = f"{start:{tip_format}} — " + ", ".join(f"{k}: {bucket.get(k, 0)}" for k in keys if bucket.get(k, 0))
        rects = []
        for key in keys:
            count = bucket.get(key, 0)
            if not count:
                continue
            h = count / peak * (height - 2)
            y -= h
            rects.append(format_html(
                '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"/>', _n(x), _n(y), _n(bar), _n(h), colour(key)
            ))
        if not rects:  # an empty hour still gets a hairline so the time axis reads evenly
            rects.append(format_html(
                '<rect x="{}" y="{}" width="{}" height="1" fill="#e0e0e0"/>', _n(x), _n(height - 1), _n(bar)
            ))
        parts.append(format_html('<g class="bucket"><title>{}</title>{}</g>', tip, mark_safe("".join(rects))))  # noqa: S308
    return _svg(width, height, label, "".join(parts))


def proportion_bar(counts: dict[str, int], *, keys: Sequence[str], label: str, width: int = 480,
                   height: int = 14) -> SafeString:
    """One horizontal bar split by share (fleet by status)."""
    total = sum(counts.get(k, 0) for k in keys)
    if not total:
        return _svg(width, height, label, format_html(
            '<rect x="0" y="0" width="{}" height="{}" fill="#e0e0e0"/>', width, height
        ))
    x = 0.0
    parts = []
    for key in keys:
        count = counts.get(key, 0)
        if not count:
            continue
        w = count / total * width
        parts.append(format_html(
            '<rect x="{}" y="0" width="{}" height="{}" fill="{}"><title>{}: {}</title></rect>',
            _n(x), _n(w), height, colour(key), key, count,
        ))
        x += w
    return _svg(width, height, label, "".join(parts))


def meter(value: int, peak: int, *, label: str, width: int = 160, height: int = 10,
          fill: str = STATUS_COLOURS["requests"]) -> SafeString:
    """A small horizontal bar: `value` out of `peak` (top tenants)."""
    w = (value / peak * width) if peak else 0
    body = format_html(
        '<rect x="0" y="0" width="{}" height="{}" fill="#eceff1"/>'
        '<rect x="0" y="0" width="{}" height="{}" fill="{}"/>',
        width, height, _n(w), height, fill,
    )
    return _svg(width, height, label, body)

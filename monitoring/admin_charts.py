"""The fleet's pictures for its admin pages, drawn on the server as inline SVG (no JavaScript,
no CDN): a bar of the latest checks, latency per hour, and a group's members online against
its quorum.

Each reads without colour: a check's status is also its cell's height (full: up, two thirds:
degraded, one third: down, a stub: unknown), the p95 line is dashed, the quorum line dotted,
and every mark has a tooltip (`<title>`). Text and axes take the admin theme's colours
(console.css), so the light and dark themes both work. Values reach the markup through
`format_html` only.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from monitoring.history import Check, Hour
from monitoring.models import Status

STATUS_COLOURS = {Status.UP: "#1a7f37", Status.DEGRADED: "#b7791f", Status.DOWN: "#cf222e",
                  Status.UNKNOWN: "#6e7781"}
INCIDENT_COLOURS = {"open": STATUS_COLOURS[Status.DOWN], "acknowledged": STATUS_COLOURS[Status.DEGRADED],
                    "resolved": STATUS_COLOURS[Status.UP]}
PAUSED_COLOUR = "#57606a"
EMPTY_COLOUR = "#d0d7de"
AVG_COLOUR = "#0969da"
P95_COLOUR = "#bc4c00"
# A cell's height as a share of the bar's: the status without its colour.
HEIGHTS = {Status.UP: 1.0, Status.DEGRADED: 2 / 3, Status.DOWN: 1 / 3, Status.UNKNOWN: 1 / 6}


def colour(status: str) -> str:
    return STATUS_COLOURS.get(status, STATUS_COLOURS[Status.UNKNOWN])


def incident_state(incident) -> str:
    """open / acknowledged (still open, someone is on it) / resolved."""
    if incident.state == "open" and incident.acknowledged_at:
        return "acknowledged"
    return incident.state


def _n(value: float) -> str:
    return f"{value:.1f}"


def _utc(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def _svg(width: float, height: float, label: str, body: str, css: str) -> SafeString:
    return format_html(
        '<svg class="console-chart fleet-chart {css}" xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
        'viewBox="0 0 {w} {h}" role="img" aria-label="{label}"><title>{label}</title>{body}</svg>',
        css=css, w=_n(width), h=_n(height), label=label, body=mark_safe(body),  # noqa: S308 - escaped parts
    )


def check_tip(check: Check) -> str:
    parts = [_utc(check.checked_at), check.status]
    if check.latency_ms is not None:
        parts.append(f"{check.latency_ms:.0f} ms")
    if check.http_status:
        parts.append(f"HTTP {check.http_status}")
    if check.error:
        parts.append(check.error)
    return " · ".join(parts)


def summary(checks: Sequence[Check]) -> str:
    if not checks:
        return "no checks yet"
    counts = Counter(c.status for c in checks)
    return f"last {len(checks)} checks: " + ", ".join(
        f"{counts[s]} {s}" for s in (Status.UP, Status.DEGRADED, Status.DOWN, Status.UNKNOWN) if counts[s]
    )


def check_bar(checks: Sequence[Check], *, slots: int, cell: float = 6, gap: float = 2,
              height: float = 24) -> SafeString:
    """One cell per check, oldest left; slots without a check yet are grey hairlines on the left
    (as Uptime Kuma's heartbeat bar)."""
    width = slots * (cell + gap) - gap
    shown = list(checks)[-slots:]
    parts = []
    for index in range(slots - len(shown)):
        parts.append(format_html('<rect class="check-empty" x="{}" y="{}" width="{}" height="2" fill="{}"/>',
                                 _n(index * (cell + gap)), _n(height - 2), _n(cell), EMPTY_COLOUR))
    for offset, check in enumerate(shown):
        x = (slots - len(shown) + offset) * (cell + gap)
        h = height * HEIGHTS.get(check.status, HEIGHTS[Status.UNKNOWN])
        parts.append(format_html(
            '<rect class="check-cell" data-status="{s}" x="{x}" y="{y}" width="{w}" height="{h}" rx="1" '
            'fill="{fill}"><title>{tip}</title></rect>',
            s=check.status, x=_n(x), y=_n(height - h), w=_n(cell), h=_n(h), fill=colour(check.status),
            tip=check_tip(check),
        ))
    return _svg(width, height, summary(shown), "".join(parts), "check-bar")


def _axis_max(values: Sequence[float]) -> float:
    """A round top for the y axis: 1, 2 or 5 times a power of ten, above the largest value."""
    peak = max(values, default=0) or 1
    scale = 1.0
    while scale * 10 < peak:
        scale *= 10
    for step in (1, 2, 5, 10):
        if step * scale >= peak:
            return step * scale
    return peak


def _segments(points: Sequence[tuple[float, float | None]]) -> list[str]:
    """Polyline point lists, broken where an hour has no value (no line across a gap)."""
    segments, current = [], []
    for x, y in points:
        if y is None:
            if current:
                segments.append(" ".join(current))
            current = []
        else:
            current.append(f"{x:.1f},{y:.1f}")
    if current:
        segments.append(" ".join(current))
    return segments


def _time_label(moment: datetime, *, daily: bool) -> str:
    return f"{moment:%a %d}" if daily else f"{moment:%H:%M}"


PAD_LEFT, PAD_BOTTOM, PAD_TOP = 44, 18, 6


def latency_chart(hours: Sequence[Hour], *, label: str, width: int = 960, height: int = 150,
                  daily_ticks: bool = False) -> SafeString:
    """Average (solid) and p95 (dashed) latency per hour; a dot with a tooltip per measured hour."""
    if not hours:
        return _svg(width, height, label, "", "latency-chart")
    top = _axis_max([h.p95_ms or h.avg_ms or 0 for h in hours])
    plot_w, plot_h = width - PAD_LEFT - 4, height - PAD_BOTTOM - PAD_TOP
    step = plot_w / max(len(hours) - 1, 1)

    def y(value: float) -> float:
        return PAD_TOP + plot_h - value / top * plot_h

    parts = [_grid(top, y, width, unit=" ms")]
    parts.append(_x_ticks(hours, step, height, daily=daily_ticks))
    lines = (("p95_ms", P95_COLOUR, "4 3", "latency-p95"), ("avg_ms", AVG_COLOUR, "", "latency-avg"))
    for key, stroke, dash, css in lines:
        points = [(PAD_LEFT + i * step, None if getattr(h, key) is None else y(getattr(h, key)))
                  for i, h in enumerate(hours)]
        for segment in _segments(points):
            parts.append(format_html(
                '<polyline class="{}" fill="none" stroke="{}" stroke-width="1.5" stroke-dasharray="{}" '
                'stroke-linejoin="round" points="{}"/>', css, stroke, dash or "none", segment))
    for i, hour in enumerate(hours):
        if hour.avg_ms is None:
            continue
        tip = f"{hour.start:%Y-%m-%d %H:00} UTC — avg {hour.avg_ms:.0f} ms"
        if hour.p95_ms is not None:
            tip += f", p95 {hour.p95_ms:.0f} ms"
        tip += f", {hour.checks} checks, {hour.checks - hour.available} failed"
        parts.append(format_html(
            '<circle class="latency-point" cx="{}" cy="{}" r="2" fill="{}"><title>{}</title></circle>',
            _n(PAD_LEFT + i * step), _n(y(hour.avg_ms)), AVG_COLOUR, tip))
    return _svg(width, height, label, "".join(parts), "latency-chart")


def _grid(top: float, y, width: float, *, unit: str) -> str:
    parts = []
    for value in (0, top / 2, top):
        parts.append(format_html(
            '<line class="chart-grid" x1="{x1}" y1="{y}" x2="{x2}" y2="{y}"/>'
            '<text class="chart-tick" x="{tx}" y="{ty}" text-anchor="end">{label}</text>',
            x1=PAD_LEFT, x2=_n(width - 4), y=_n(y(value)), tx=PAD_LEFT - 4, ty=_n(y(value) + 3),
            label=f"{value:g}{unit}",
        ))
    return "".join(parts)


def _x_ticks(hours: Sequence[Hour], step: float, height: float, *, daily: bool) -> str:
    parts = []
    for i, hour in enumerate(hours):
        if (daily and hour.start.hour == 0) or (not daily and hour.start.hour % 6 == 0):
            parts.append(format_html('<text class="chart-tick" x="{}" y="{}" text-anchor="middle">{}</text>',
                                     _n(PAD_LEFT + i * step), _n(height - 4), _time_label(hour.start, daily=daily)))
    return "".join(parts)


def quorum_chart(hours: Sequence[Hour], *, min_online: int, members: int,
                 down: Sequence[tuple[datetime, datetime | None]], now: datetime, label: str,
                 width: int = 960, height: int = 150) -> SafeString:
    """Members available per hour (solid line with a dot per hour), the quorum (`min_online`,
    dotted) and the group's down incidents as shaded bands."""
    if not hours:
        return _svg(width, height, label, "", "quorum-chart")
    top = float(max(members, min_online, 1))
    plot_w, plot_h = width - PAD_LEFT - 4, height - PAD_BOTTOM - PAD_TOP
    step = plot_w / max(len(hours) - 1, 1)
    start, end = hours[0].start, hours[-1].start

    def y(value: float) -> float:
        return PAD_TOP + plot_h - value / top * plot_h

    def x(moment: datetime) -> float:
        span = (end - start).total_seconds() or 1
        return PAD_LEFT + min(max((moment - start).total_seconds() / span, 0), 1) * plot_w

    parts = []
    for opened, resolved in down:
        x1, x2 = x(opened), x(resolved or now)
        parts.append(format_html(
            '<rect class="quorum-down" x="{}" y="{}" width="{}" height="{}" fill="{}" fill-opacity="0.18">'
            '<title>down {} – {}</title></rect>',
            _n(x1), PAD_TOP, _n(max(x2 - x1, 1)), _n(plot_h), STATUS_COLOURS[Status.DOWN], _utc(opened),
            _utc(resolved) if resolved else "still open"))
    parts.append(_grid(top, y, width, unit=""))
    parts.append(_x_ticks(hours, step, height, daily=True))
    parts.append(format_html(
        '<line class="quorum-line" x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="{}" stroke-width="1.5" '
        'stroke-dasharray="1 3"><title>quorum: {} of {} online</title></line>',
        PAD_LEFT, _n(width - 4), STATUS_COLOURS[Status.DOWN], min_online, members, y=_n(y(min_online))))
    points = [(PAD_LEFT + i * step, None if h.online is None else y(h.online)) for i, h in enumerate(hours)]
    for segment in _segments(points):
        parts.append(format_html('<polyline class="online-line" fill="none" stroke="{}" stroke-width="1.5" '
                                 'points="{}"/>', AVG_COLOUR, segment))
    for i, hour in enumerate(hours):
        if hour.online is None:
            continue
        below = hour.online < min_online
        parts.append(format_html(
            '<circle class="online-point" data-below="{}" cx="{}" cy="{}" r="{}" fill="{}">'
            '<title>{} UTC — {} of {} online on average (quorum {}){}</title></circle>',
            "yes" if below else "no", _n(PAD_LEFT + i * step), _n(y(hour.online)), 2.5 if below else 1.5,
            STATUS_COLOURS[Status.DOWN] if below else AVG_COLOUR, f"{hour.start:%Y-%m-%d %H:00}", hour.online,
            members, min_online, " — below quorum" if below else ""))
    return _svg(width, height, label, "".join(parts), "quorum-chart")

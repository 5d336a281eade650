"""A run's pictures for its admin page, drawn on the server as inline SVG (no JavaScript, no
CDN): the DAG of its steps, and a timeline (Gantt) of their attempts.

Both read without colour: a node carries its status as a word and a glyph, and a bar that is
still open (queued, running) is outlined and dashed up to "now". Text takes the admin theme's
colours (console.css), so light and dark themes both work. Every value reaching the markup
goes through `format_html`.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from orchestration.models import RunStatus, StepRun, StepStatus

COLOURS = {
    RunStatus.SUCCEEDED: "#1a7f37",
    RunStatus.RUNNING: "#0969da",
    RunStatus.QUEUED: "#6e7781",
    RunStatus.FAILED: "#cf222e",
    RunStatus.TIMED_OUT: "#bc4c00",
    RunStatus.CANCELLED: "#57606a",
    StepStatus.PENDING: "#8c959f",
    StepStatus.SKIPPED: "#8c959f",
    "retried": "#cf222e",
}
GLYPHS = {
    StepStatus.PENDING: "○",
    StepStatus.QUEUED: "…",
    StepStatus.RUNNING: "▶",
    StepStatus.SUCCEEDED: "✓",
    StepStatus.FAILED: "✗",
    StepStatus.SKIPPED: "–",
    StepStatus.CANCELLED: "⊘",
    StepStatus.TIMED_OUT: "⊠",
    "retried": "↻",
}
OPEN = frozenset({StepStatus.QUEUED, StepStatus.RUNNING})

NODE_W, NODE_H, COL_GAP, ROW_GAP, PAD = 168, 46, 56, 14, 8
LABEL_W, CHART_W, BAR_H, ROW_H, AXIS_H = 190, 640, 14, 20, 22


def colour(status: str) -> str:
    return COLOURS.get(status, "#6e7781")


def _n(value: float) -> str:
    return f"{value:.1f}"


def _svg(width: float, height: float, label: str, body: str, css: str) -> SafeString:
    return format_html(
        '<svg class="console-chart {css}" xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
        'viewBox="0 0 {w} {h}" role="group" aria-label="{label}"><title>{label}</title>{body}</svg>',
        css=css, w=_n(width), h=_n(height), label=label, body=mark_safe(body),  # noqa: S308 - escaped parts
    )


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- The DAG ----------------------------------------------------------------------------------
def layers(spec_steps: list[dict]) -> dict[str, int]:
    """Each step's column: the length of the longest dependency path leading to it (the spec
    is validated acyclic). `on_failure` steps go in columns after the main steps'."""
    by_id = {step["id"]: step for step in spec_steps}
    depth: dict[str, int] = {}

    def visit(step_id: str) -> int:
        if step_id not in depth:
            deps = [d for d in by_id[step_id]["depends_on"] if d in by_id]
            depth[step_id] = 1 + max(map(visit, deps)) if deps else 0
        return depth[step_id]

    for step_id in by_id:
        visit(step_id)
    main = [depth[s["id"]] for s in spec_steps if not s.get("handler")]
    offset = max(main) + 1 if main else 0
    return {sid: d + offset if by_id[sid].get("handler") else d for sid, d in depth.items()}


def dag_svg(spec_steps: list[dict], steps: list[StepRun]) -> SafeString:
    """One node per step (status colour, glyph and word), one edge per dependency. Each node
    is a link to the step's row in the steps table below, so the picture is keyboard-reachable."""
    column = layers(spec_steps)
    by_id = {step.step_id: step for step in steps}
    rows: dict[int, int] = {}
    place: dict[str, tuple[float, float]] = {}
    for spec in spec_steps:
        col = column[spec["id"]]
        row = rows.get(col, 0)
        rows[col] = row + 1
        place[spec["id"]] = (PAD + col * (NODE_W + COL_GAP), PAD + row * (NODE_H + ROW_GAP))
    width = PAD * 2 + (max(column.values(), default=0) + 1) * (NODE_W + COL_GAP) - COL_GAP
    height = PAD * 2 + max(rows.values(), default=1) * (NODE_H + ROW_GAP) - ROW_GAP
    edges = []
    for spec in spec_steps:
        x2, y2 = place[spec["id"]]
        for dep in spec["depends_on"]:
            if dep not in place:
                continue
            x1, y1 = place[dep][0] + NODE_W, place[dep][1] + NODE_H / 2
            y2m, bend = y2 + NODE_H / 2, COL_GAP / 2
            edges.append(format_html(
                '<path class="dag-edge" data-from="{}" data-to="{}" d="M{} {} C{} {} {} {} {} {}" '
                'marker-end="url(#dag-arrow)"/>',
                dep, spec["id"], _n(x1), _n(y1), _n(x1 + bend), _n(y1), _n(x2 - bend), _n(y2m), _n(x2 - 2), _n(y2m),
            ))
    index = {step.step_id: i for i, step in enumerate(sorted(steps, key=lambda s: s.position))}
    nodes = [_node(spec, by_id.get(spec["id"]), place[spec["id"]], index.get(spec["id"])) for spec in spec_steps]
    defs = (
        '<defs><marker id="dag-arrow" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0 0 L8 4 L0 8 z" class="dag-arrowhead"/></marker></defs>'
    )
    return _svg(width, height, f"Graph of the run's {len(spec_steps)} step(s)", defs + "".join(edges + nodes), "dag")


def _node(spec: dict, step: StepRun | None, at: tuple[float, float], index: int | None) -> SafeString:
    status = step.status if step else StepStatus.PENDING
    x, y = at
    attempts = step.attempts if step else 0
    detail = status.replace("_", " ") + (f" · {attempts} attempts" if attempts > 1 else "")
    faint = status in (StepStatus.PENDING, StepStatus.SKIPPED) or spec.get("handler")
    dashed = ' stroke-dasharray="4 3"' if faint else ""
    tip = f"{spec['id']} ({spec['satellite']}): {detail}" + (" — on failure" if spec.get("handler") else "")
    if step and step.error:
        tip += f" — {step.error[:200]}"
    return format_html(
        '<a class="dag-node" href="#steps-{index}" data-step="{sid}" data-status="{status}" data-colour="{fill}">'
        '<title>{tip}</title>'
        '<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="6" fill="{fill}" class="dag-box"{dashed}/>'
        '<text x="{tx}" y="{ty1}" class="dag-name">{glyph} {name}</text>'
        '<text x="{tx}" y="{ty2}" class="dag-status">{detail}</text></a>',
        index="" if index is None else index, sid=spec["id"], status=status, fill=colour(status), tip=tip,
        x=_n(x), y=_n(y), w=NODE_W, h=NODE_H, dashed=mark_safe(dashed),  # noqa: S308 - a constant
        tx=_n(x + 8), ty1=_n(y + 19), ty2=_n(y + 36), glyph=GLYPHS.get(status, "?"),
        name=_short(spec["id"], 19), detail=_short(detail, 26),
    )


# --- The timeline -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Bar:
    step_id: str
    attempt: int
    status: str  # a step status, or "retried" for an attempt that failed and was tried again
    start: datetime
    end: datetime | None  # None while queued or running

    @property
    def is_open(self) -> bool:
        return self.end is None


def attempt_bars(steps: list[StepRun], spans: dict[tuple[str, int], tuple[datetime, datetime]]) -> list[Bar]:
    """One bar per attempt of each step, in step order. The step row holds its current
    attempt's times; an earlier attempt's come from its log lines (first and last, as
    `selectors.step_attempt_spans` gives them). A step waiting in the queue (first attempt or
    a retry) is an open bar from the time it was queued."""
    bars: list[Bar] = []
    for step in sorted(steps, key=lambda s: s.position):
        current_done = step.status not in OPEN and step.status != StepStatus.PENDING
        for number in range(1, step.attempts + 1):
            if number == step.attempts and step.started_at and (current_done or step.status == StepStatus.RUNNING):
                end = None if step.status == StepStatus.RUNNING else step.finished_at or step.started_at
                bars.append(Bar(step.step_id, number, step.status, step.started_at, end))
            elif (step.step_id, number) in spans:
                first, last = spans[step.step_id, number]
                bars.append(Bar(step.step_id, number, "retried", first, last))
        if step.status == StepStatus.QUEUED and step.queued_at:
            bars.append(Bar(step.step_id, step.attempts + 1, StepStatus.QUEUED, step.queued_at, None))
    return bars


def gantt_svg(bars: list[Bar], *, now: datetime) -> SafeString:
    """Bars on one time axis (UTC), a row per attempt; open bars run to a "now" line."""
    if not bars:
        return _svg(LABEL_W + CHART_W, AXIS_H, "No attempts yet", "", "gantt")
    start = min(bar.start for bar in bars)
    end = max([bar.end for bar in bars if bar.end] + ([now] if any(b.is_open for b in bars) else []) + [start])
    span = max((end - start).total_seconds(), 0.001)

    def x(at: datetime) -> float:
        return LABEL_W + (at - start).total_seconds() / span * (CHART_W - 70)

    height = AXIS_H + len(bars) * ROW_H + 4
    ticks = format_html_join("", (
        '<line class="gantt-grid" x1="{0}" y1="{1}" x2="{0}" y2="{2}"/>'
        '<text class="gantt-tick" x="{0}" y="12" text-anchor="middle">{3}</text>'
    ), (
        (_n(LABEL_W + i / 4 * (CHART_W - 70)), AXIS_H - 6, _n(height),
         _tick(start, span * i / 4, span))
        for i in range(5)
    ))
    rows = []
    for i, bar in enumerate(bars):
        y = AXIS_H + i * ROW_H
        x1 = x(bar.start)
        x2 = x(bar.end or now)
        shown = bar.status.replace("_", " ") + ("…" if bar.is_open else "")
        took = "" if bar.is_open else f" · {_took((bar.end - bar.start).total_seconds())}"
        tip = (f"{bar.step_id} attempt {bar.attempt}: {shown} — from {bar.start.astimezone(UTC):%H:%M:%S} UTC"
               + ("" if bar.is_open else f" to {bar.end.astimezone(UTC):%H:%M:%S} UTC") + took)
        style = (f'fill="{colour(bar.status)}" fill-opacity="0.25" stroke="{colour(bar.status)}" stroke-width="1.5" '
                 'stroke-dasharray="4 2"' if bar.is_open else f'fill="{colour(bar.status)}"')
        rows.append(format_html(
            '<g class="gantt-bar" data-step="{sid}" data-attempt="{n}" data-status="{status}" data-open="{open}">'
            '<title>{tip}</title>'
            '<text class="gantt-label" x="4" y="{ty}">{label}</text>'
            '<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="2" {style}/>'
            '<text class="gantt-state" x="{sx}" y="{ty}">{glyph} {shown}{took}</text></g>',
            sid=bar.step_id, n=bar.attempt, status=bar.status, open="yes" if bar.is_open else "no", tip=tip,
            ty=_n(y + 13), label=f"{_short(bar.step_id, 20)} #{bar.attempt}", x=_n(x1), y=_n(y + 3),
            w=_n(max(x2 - x1, 2)), h=BAR_H, style=mark_safe(style),  # noqa: S308 - built from constants
            sx=_n(max(x2, x1 + 2) + 4), glyph=GLYPHS.get(bar.status, ""), shown=shown, took=took,
        ))
    if any(b.is_open for b in bars):
        rows.append(format_html(
            '<line class="gantt-now" x1="{0}" y1="{1}" x2="{0}" y2="{2}"><title>now</title></line>',
            _n(x(now)), AXIS_H - 4, _n(height),
        ))
    label = f"Timeline of {len(bars)} attempt(s), from {start.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
    return _svg(LABEL_W + CHART_W, height, label, str(ticks) + "".join(rows), "gantt")


def _tick(start: datetime, offset: float, span: float) -> str:
    if span < 10:
        return f"+{offset:.2f} s"
    at = datetime.fromtimestamp(start.timestamp() + offset, tz=UTC)
    return f"{at:%H:%M:%S}"


def _took(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"

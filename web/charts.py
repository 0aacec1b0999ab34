"""Charts for the operator dashboard (top of the stack): small inline SVG drawn on the server, no JavaScript.

Every text that reaches the SVG (titles, labels, hints) is escaped here, so a hostile list label
or campaign name stays text. Colours and sizes are presentation attributes, never ``style``:
the app's content security policy allows no inline styles.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from web.words import counted

BAR_FILL = "#2b6cb0"
LINE_STROKE = "#2b6cb0"
AXIS = "#9aa5b1"
TEXT = "#1d232a"
MUTED = "#52606d"
_FONT = 'font-family="system-ui, sans-serif" font-size="11"'
_ID = re.compile(r"[^a-z0-9-]+")


@dataclass(frozen=True, slots=True)
class Point:
    """One value of a series: its label on the x axis and an optional longer hover text."""

    label: str
    value: float
    hint: str | None = None


def _num(value: float) -> str:
    """A value as shown: whole numbers without decimals, others with at most two."""
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}".rstrip("0").rstrip(".")


def _open(chart_id: str, title: str, summary: str, width: int, height: int) -> list[str]:
    cid = _ID.sub("-", chart_id.lower()).strip("-") or "chart"
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{cid}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-labelledby="{cid}-title {cid}-desc">',
        f'<title id="{cid}-title">{escape(title)}</title>',
        f'<desc id="{cid}-desc">{escape(summary)}</desc>',
    ]


def _no_data(chart_id: str, title: str, width: int, height: int) -> Markup:
    parts = _open(chart_id, title, "no data", width, height)
    parts.append(f'<rect x="0.5" y="0.5" width="{width - 1}" height="{height - 1}" fill="none" stroke="{AXIS}"/>')
    parts.append(f'<text x="{width / 2:.1f}" y="{height / 2:.1f}" text-anchor="middle" fill="{MUTED}" {_FONT}>'
                 "no data</text></svg>")
    return Markup("".join(parts))


@dataclass(frozen=True, slots=True)
class _Frame:
    """Plot area inside the SVG: left margin for the y labels, bottom margin for the x labels."""

    width: int
    height: int
    left: int = 36
    right: int = 6
    top: int = 8
    bottom: int = 20

    @property
    def plot_w(self) -> float:
        return float(self.width - self.left - self.right)

    @property
    def plot_h(self) -> float:
        return float(self.height - self.top - self.bottom)

    def y(self, value: float, peak: float) -> float:
        return self.top + self.plot_h * (1.0 - (value / peak if peak else 0.0))


def _axes(frame: _Frame, peak: float, unit: str) -> list[str]:
    base = frame.top + frame.plot_h
    return [
        f'<line x1="{frame.left}" y1="{base:.1f}" x2="{frame.width - frame.right}" y2="{base:.1f}" stroke="{AXIS}"/>',
        f'<line x1="{frame.left}" y1="{frame.top}" x2="{frame.left}" y2="{base:.1f}" stroke="{AXIS}"/>',
        f'<text x="{frame.left - 4}" y="{frame.top + 9}" text-anchor="end" fill="{MUTED}" {_FONT}>'
        f"{escape(_num(peak))}</text>",
        f'<text x="{frame.left - 4}" y="{base:.1f}" text-anchor="end" fill="{MUTED}" {_FONT}>0</text>',
        f'<text x="{frame.left + 4}" y="{frame.top + 9}" fill="{MUTED}" {_FONT}>{escape(unit)}</text>',
    ]


def _x_labels(frame: _Frame, points: Sequence[Point], centre: list[float], every: int) -> list[str]:
    y = frame.height - 6
    return [
        f'<text x="{x:.1f}" y="{y}" text-anchor="middle" fill="{MUTED}" {_FONT}>{escape(p.label)}</text>'
        for i, (p, x) in enumerate(zip(points, centre, strict=True))
        if i % every == 0 or i == len(points) - 1
    ]


def _every(count: int, width: float, label_px: float = 44.0) -> int:
    """Label every n-th point so labels do not overlap."""
    fits = max(1, int(width // label_px))
    return max(1, -(-count // fits))


def _summary(points: Sequence[Point], unit: str) -> str:
    total = sum(p.value for p in points)
    peak = max(points, key=lambda p: p.value)
    return f"{len(points)} values, total {_num(total)} {unit}, highest {_num(peak.value)} at {peak.label}"


def bar_chart(
    chart_id: str, title: str, points: Sequence[Point], *, unit: str = "", width: int = 640, height: int = 150
) -> Markup:
    """A bar per point, each with a hover title; "no data" when there are no points or all are zero.

    Args:
        chart_id: The SVG element's id (letters, digits and dashes are kept).
        title: Accessible title.
        points: The values, left to right; negative values are drawn as zero.
        unit: What the values count, shown by the y axis and in hover texts.
        width: Width in pixels.
        height: Height in pixels.

    """
    if not points or not any(p.value > 0 for p in points):
        return _no_data(chart_id, title, width, height)
    frame = _Frame(width, height)
    peak = max(p.value for p in points)
    slot = frame.plot_w / len(points)
    gap = min(2.0, slot * 0.2)
    parts = _open(chart_id, title, _summary(points, unit), width, height)
    parts += _axes(frame, peak, unit)
    centres: list[float] = []
    base = frame.top + frame.plot_h
    for i, p in enumerate(points):
        x = frame.left + i * slot + gap / 2
        centres.append(x + (slot - gap) / 2)
        top = frame.y(max(0.0, p.value), peak)
        hint = p.hint or f"{p.label}: {_num(p.value)} {unit}".rstrip()
        parts.append(f'<rect x="{x:.1f}" y="{top:.1f}" width="{max(0.5, slot - gap):.1f}" '
                     f'height="{base - top:.1f}" fill="{BAR_FILL}"><title>{escape(hint)}</title></rect>')
    parts += _x_labels(frame, points, centres, _every(len(points), frame.plot_w))
    parts.append("</svg>")
    return Markup("".join(parts))


def line_chart(
    chart_id: str, title: str, points: Sequence[Point], *, unit: str = "", width: int = 640, height: int = 150
) -> Markup:
    """A line through the points with a marker (and hover title) on each; "no data" as for :func:`bar_chart`."""
    if not points or not any(p.value > 0 for p in points):
        return _no_data(chart_id, title, width, height)
    frame = _Frame(width, height)
    peak = max(p.value for p in points)
    step = frame.plot_w / max(1, len(points) - 1)
    xs = [frame.left + i * step if len(points) > 1 else frame.left + frame.plot_w / 2 for i in range(len(points))]
    ys = [frame.y(max(0.0, p.value), peak) for p in points]
    parts = _open(chart_id, title, _summary(points, unit), width, height)
    parts += _axes(frame, peak, unit)
    coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))
    parts.append(f'<polyline points="{coords}" fill="none" stroke="{LINE_STROKE}" stroke-width="1.5"/>')
    for p, x, y in zip(points, xs, ys, strict=True):
        hint = p.hint or f"{p.label}: {_num(p.value)} {unit}".rstrip()
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{LINE_STROKE}"><title>{escape(hint)}</title>'
                     "</circle>")
    parts += _x_labels(frame, points, xs, _every(len(points), frame.plot_w))
    parts.append("</svg>")
    return Markup("".join(parts))


@dataclass(frozen=True, slots=True)
class Bin:
    """One histogram bin: values ``>= low`` and ``< high`` (``high`` None: no upper bound)."""

    label: str
    low: float
    high: float | None


def histogram(
    chart_id: str, title: str, values: Sequence[float], bins: Sequence[Bin], *, unit: str = "items",
    one: str = "item", width: int = 640, height: int = 150,
) -> Markup:
    """Count ``values`` into ``bins`` and draw them as bars; "no data" when there are no values.

    ``unit`` labels the axis; each bar's hover text counts ``one`` (``1 item``, ``2 items``).
    """
    counts = [sum(1 for v in values if v >= b.low and (b.high is None or v < b.high)) for b in bins]
    points = [Point(b.label, float(c), f"{b.label}: {counted(c, one, unit)}")
              for b, c in zip(bins, counts, strict=True)]
    return bar_chart(chart_id, title, points, unit=unit, width=width, height=height)

"""Line-chart geometry for the reports' trends (inline SVG, no script, no library).

Pure functions: series of (unix time, value) in, coordinates and tick labels out, so the
templates only print numbers and the geometry is tested directly.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

PALETTE = ("#2563eb", "#d97706", "#059669", "#7c3aed", "#db2777", "#0891b2", "#65a30d", "#9333ea", "#ea580c",
           "#0f766e")
"""Site colours (stroke attributes, not styles: the report's CSP allows no inline style)."""

Point = tuple[float, int]


@dataclass(frozen=True)
class Line:
    label: str
    kind: str
    """CSS class suffix: total | site | covered | open."""
    color: str | None
    points: str
    """SVG polyline points: ``x,y x,y …``."""
    last: int
    first: int
    dots: tuple[tuple[float, float, int, str], ...] = ()
    """(x, y, value, date) markers, drawn when a line has few points."""


@dataclass(frozen=True)
class LineChart:
    width: int
    height: int
    left: int
    top: int
    plot_width: int
    plot_height: int
    lines: list[Line]
    y_ticks: list[tuple[float, int]] = field(default_factory=list)
    x_ticks: list[tuple[float, str]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.lines


def nice_step(peak: int) -> int:
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000, 20000, 50000):
        if peak / step <= 5:
            return step
    return max(1, peak // 5)


def _date(ts: float, fmt: str) -> str:
    return time.strftime(fmt, time.gmtime(ts))


def _x_ticks(t0: float, t1: float, scale: float, left: int) -> list[tuple[float, str]]:
    span_days = (t1 - t0) / 86400
    if span_days <= 0:
        return [(left, _date(t0, "%Y-%m-%d"))]
    fmt = "%d %b %H:%M" if span_days < 2 else ("%d %b" if span_days <= 120 else "%b %Y")
    count = 6 if span_days >= 6 else max(2, int(span_days) + 1)
    return [(round(left + (i / (count - 1)) * (t1 - t0) * scale, 1), _date(t0 + (i / (count - 1)) * (t1 - t0), fmt))
            for i in range(count)]


def line_chart(series: Sequence[tuple[str, str, Sequence[Point]]], *, width: int = 860, height: int = 260,
               left: int = 48, right: int = 16, top: int = 12, bottom: int = 28, dots_below: int = 32) -> LineChart:
    """``series``: (label, kind, [(unix time, value), …] oldest first). Site lines get palette
    colours in order; lines of fewer than ``dots_below`` points also get a marker per point."""
    drawn = [(label, kind, list(points)) for label, kind, points in series if points]
    plot_w, plot_h = width - left - right, height - top - bottom
    if not drawn:
        return LineChart(width, height, left, top, plot_w, plot_h, [])
    t0 = min(p[0] for _, _, pts in drawn for p in pts)
    t1 = max(p[0] for _, _, pts in drawn for p in pts)
    peak = max(1, max(p[1] for _, _, pts in drawn for p in pts))
    step = nice_step(peak)
    y_max = ((peak + step - 1) // step) * step
    x_scale = plot_w / (t1 - t0) if t1 > t0 else 0.0

    def xy(t: float, v: int) -> tuple[float, float]:
        x = left + ((t - t0) * x_scale if x_scale else plot_w / 2)
        return round(x, 1), round(top + plot_h - plot_h * v / y_max, 1)

    lines = []
    colours = 0
    for label, kind, points in drawn:
        color = None
        if kind == "site":
            color = PALETTE[colours % len(PALETTE)]
            colours += 1
        coords = [xy(t, v) for t, v in points]
        dots = tuple((x, y, v, _date(t, "%Y-%m-%d")) for (x, y), (t, v) in zip(coords, points, strict=True)) \
            if len(points) < dots_below else ()
        lines.append(Line(label=label, kind=kind, color=color, points=" ".join(f"{x},{y}" for x, y in coords),
                          last=points[-1][1], first=points[0][1], dots=dots))
    y_ticks = [(round(top + plot_h - plot_h * v / y_max, 1), v) for v in range(0, y_max + 1, step)]
    return LineChart(width, height, left, top, plot_w, plot_h, lines, y_ticks,
                     _x_ticks(t0, t1, x_scale, left) if x_scale else [(left + plot_w / 2, _date(t0, "%Y-%m-%d"))])


def sparkline(points: Sequence[Point], *, width: int = 120, height: int = 24, pad: int = 2) -> str:
    """Polyline points of a small inline trend (time on x, value on y from 0); '' when empty."""
    if not points:
        return ""
    t0, t1 = points[0][0], points[-1][0]
    peak = max(1, max(v for _, v in points))
    span = t1 - t0
    out = []
    for t, v in points:
        x = pad + ((t - t0) / span * (width - 2 * pad) if span else (width - 2 * pad) / 2)
        y = pad + (height - 2 * pad) * (1 - v / peak)
        out.append(f"{round(x, 1)},{round(y, 1)}")
    if len(out) == 1:
        out.append(out[0])
    return " ".join(out)


def as_points(entries: Sequence[Mapping[str, object]], value_key: str, time_key: str = "started_at") -> list[Point]:
    """``[{started_at: ISO, value_key: n}]`` → [(unix time, n)], skipping entries without a time."""
    from datetime import datetime

    out: list[Point] = []
    for e in entries:
        stamp = e.get(time_key)
        value = e.get(value_key)
        if not isinstance(stamp, str) or not isinstance(value, int):
            continue
        try:
            ts = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
        except ValueError:
            continue
        out.append((ts, value))
    return out

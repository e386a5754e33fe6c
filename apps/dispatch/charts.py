"""Inline SVG charts (no JavaScript, no CDN): the budget burn-down with its forecast."""

from __future__ import annotations

import datetime as dt

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from .usage import BurnDown


def burn_down_svg(chart: BurnDown, now: dt.datetime, width: int = 720, height: int = 240) -> SafeString:
    """Remaining budget over time (solid), the forecast to zero at the recent burn rate (dashed),
    the limit at the top and zero at the bottom. Every value in the markup is a number or escaped."""
    pad_l, pad_r, pad_t, pad_b = 64, 16, 16, 36
    points = chart.points
    t0 = points[0][0]
    t1 = max(now, chart.runs_out_at or now, points[-1][0])
    if t1 <= t0:
        t1 = t0 + dt.timedelta(hours=1)
    limit = chart.dimension.limit or max((p[1] for p in points), default=1) or 1
    low = min(0.0, min(p[1] for p in points))

    def x(t: dt.datetime) -> float:
        return pad_l + (width - pad_l - pad_r) * (t - t0).total_seconds() / (t1 - t0).total_seconds()

    def y(v: float) -> float:
        return pad_t + (height - pad_t - pad_b) * (limit - v) / (limit - low or 1)

    line = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in points)
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" aria-labelledby="burn-title burn-desc" '
        f'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="burn-title">{escape(chart.dimension.label)} remaining over time</title>',
        f'<desc id="burn-desc">{escape(_describe(chart))}</desc>',
        f'<line class="axis" x1="{pad_l}" y1="{y(0):.1f}" x2="{width - pad_r}" y2="{y(0):.1f}"/>',
        f'<line class="limit" x1="{pad_l}" y1="{y(limit):.1f}" x2="{width - pad_r}" y2="{y(limit):.1f}"/>',
        f'<text class="tick" x="{pad_l - 6}" y="{y(limit) + 4:.1f}" text-anchor="end">{limit:,.0f}</text>',
        f'<text class="tick" x="{pad_l - 6}" y="{y(0) + 4:.1f}" text-anchor="end">0</text>',
        f'<text class="tick" x="{pad_l}" y="{height - 10}">{t0:%Y-%m-%d}</text>',
        f'<text class="tick" x="{width - pad_r}" y="{height - 10}" text-anchor="end">{t1:%Y-%m-%d}</text>',
        f'<polyline class="burn" points="{line}"/>',
    ]
    last_t, last_v = points[-1]
    if chart.runs_out_at and last_v > 0:
        parts.append(f'<line class="forecast" x1="{x(last_t):.1f}" y1="{y(last_v):.1f}" x2="{x(chart.runs_out_at):.1f}" y2="{y(0):.1f}"/>')
        parts.append(f'<circle class="runs-out" cx="{x(chart.runs_out_at):.1f}" cy="{y(0):.1f}" r="4"/>')
    parts.append(f'<circle class="now" cx="{x(last_t):.1f}" cy="{y(last_v):.1f}" r="4"/>')
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - numbers and escaped text only


def _describe(chart: BurnDown) -> str:
    dim = chart.dimension
    text = f"{dim.spent:,.2f} of {dim.limit:,.2f} {dim.unit} used; burning {chart.rate_per_day:,.2f} {dim.unit} a day."
    if chart.runs_out_at:
        text += f" At this rate it runs out on {chart.runs_out_at:%Y-%m-%d %H:%M} UTC."
    return text

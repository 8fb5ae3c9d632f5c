"""An incident's metrics around the deploy as a small, dependency-free SVG (one panel per metric)."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape

from aiops.model import Incident

WIDTH, PANEL_H, PAD = 720, 150, 40


def _panel(metric: str, ts: Sequence[float], values: Sequence[float], top: float, deploy_ts: float | None) -> list[str]:
    t0, t1 = min(ts), max(ts)
    lo, hi = min(values), max(values)
    span_t, span_v = (t1 - t0) or 1.0, (hi - lo) or 1.0
    xs = [PAD + (t - t0) / span_t * (WIDTH - 2 * PAD) for t in ts]
    ys = [top + PANEL_H - (v - lo) / span_v * PANEL_H for v in values]
    points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))
    parts = [
        f'<rect x="{PAD}" y="{top}" width="{WIDTH - 2 * PAD}" height="{PANEL_H}" fill="none" stroke="#ccc"/>',
        f'<text x="{PAD}" y="{top - 6}">{escape(metric)} ({lo:.4g} .. {hi:.4g})</text>',
        f'<polyline fill="none" stroke="#1f77b4" stroke-width="1.2" points="{points}"/>',
    ]
    if deploy_ts is not None and t0 <= deploy_ts <= t1:
        dx = PAD + (deploy_ts - t0) / span_t * (WIDTH - 2 * PAD)
        parts += [
            f'<line x1="{dx:.1f}" y1="{top}" x2="{dx:.1f}" y2="{top + PANEL_H}" stroke="#d62728" '
            'stroke-dasharray="4 3"/>',
            f'<text x="{dx + 3:.1f}" y="{top + 12}" fill="#d62728">deploy</text>',
        ]
    for t, x in ((t0, PAD), (t1, WIDTH - PAD - 60)):
        label = datetime.fromtimestamp(t, tz=UTC).strftime("%m-%d %H:%M")
        parts.append(f'<text x="{x:.1f}" y="{top + PANEL_H + 14}">{label}</text>')
    return parts


TITLE_CHARS, TITLE_LINE_H = 100, 16


def incident_svg(incident: Incident, deploy_ts: float | None) -> str:
    panels = [s for s in incident.series if len(s[1]) >= 2]
    # The whole summary, wrapped at words: a title cut mid-phrase ("not blamed on deploy v1" for
    # v1.1.0) said something the incident does not.
    title = textwrap.wrap(f"{incident.service}: {incident.summary}", TITLE_CHARS) or [incident.service]
    offset = TITLE_LINE_H * (len(title) - 1)
    height = PAD + offset + max(1, len(panels)) * (PANEL_H + PAD)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" font-family="sans-serif" '
        f'font-size="11"><rect width="100%" height="100%" fill="white"/>',
        f'<text x="{PAD}" y="20" font-size="13">'
        + "".join(
            f'<tspan x="{PAD}" dy="{0 if k == 0 else TITLE_LINE_H}">{escape(line)}</tspan>'
            for k, line in enumerate(title)
        )
        + "</text>",
    ]
    if not panels:
        parts.append(f'<text x="{PAD}" y="{PAD + offset + 20}">no series stored with this incident</text>')
    for k, (metric, ts, values) in enumerate(panels):
        parts += _panel(metric, ts, values, PAD + offset + k * (PANEL_H + PAD), deploy_ts)
    parts.append("</svg>")
    return "".join(parts)

"""An incident's metrics around the deploy as a small, dependency-free SVG (one panel per metric).

Each panel draws what the metric did (blue) and, where the engine stored it, what it was expected
to do without the deploy (its counterfactual, dashed orange), on one scale.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape

from aiops.model import EXPECTED_SUFFIX, Incident

WIDTH, PANEL_H, PAD = 720, 150, 40


Line = tuple[Sequence[float], Sequence[float]]


def _panel(
    metric: str,
    ts: Sequence[float],
    values: Sequence[float],
    top: float,
    deploy_ts: float | None,
    expected: Line | None,
) -> list[str]:
    exp_ts, exp_vs = expected if expected is not None else ((), ())
    t0, t1 = min(ts), max(ts)
    lo, hi = min([*values, *exp_vs]), max([*values, *exp_vs])
    span_t, span_v = (t1 - t0) or 1.0, (hi - lo) or 1.0

    def polyline(times: Sequence[float], vals: Sequence[float], style: str) -> str:
        pts = [
            f"{PAD + (t - t0) / span_t * (WIDTH - 2 * PAD):.1f},{top + PANEL_H - (v - lo) / span_v * PANEL_H:.1f}"
            for t, v in zip(times, vals, strict=True)
            if t0 <= t <= t1
        ]
        return f'<polyline fill="none" {style} points="{" ".join(pts)}"/>'

    parts = [
        f'<rect x="{PAD}" y="{top}" width="{WIDTH - 2 * PAD}" height="{PANEL_H}" fill="none" stroke="#ccc"/>',
        f'<text x="{PAD}" y="{top - 6}">{escape(metric)} ({lo:.4g} .. {hi:.4g})'
        + (' <tspan fill="#ff7f0e">- - expected</tspan>' if len(exp_ts) >= 2 else "")
        + "</text>",
        polyline(ts, values, 'stroke="#1f77b4" stroke-width="1.2"'),
    ]
    if len(exp_ts) >= 2:
        parts.append(
            polyline(exp_ts, exp_vs, 'class="expected" stroke="#ff7f0e" stroke-width="1.5" stroke-dasharray="5 3"')
        )
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


def incident_svg(incident: Incident, deploy_ts: float | None, levels: dict[str, float] | None = None) -> str:
    """``levels``: metric -> the expected level from its evidence, drawn flat where the incident holds
    no stored expectation (incidents written before the counterfactual judge)."""
    expected = {
        name.removesuffix(" " + EXPECTED_SUFFIX): (ts, vs)
        for name, ts, vs in incident.series
        if name.endswith(EXPECTED_SUFFIX)
    }
    panels = [s for s in incident.series if len(s[1]) >= 2 and not s[0].endswith(EXPECTED_SUFFIX)]
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
        line = expected.get(metric)
        level = (levels or {}).get(metric)
        if line is None and level is not None:
            line = ((ts[0], ts[-1]), (level, level))
        parts += _panel(metric, ts, values, PAD + offset + k * (PANEL_H + PAD), deploy_ts, line)
    parts.append("</svg>")
    return "".join(parts)

"""A delivery report (aiops/delivery.py) as a terminal table, CSV rows or a small SVG chart.

One row per bucket plus a last ``total`` row; durations are shown in the unit a person reads
(minutes, hours, days) in the table, and in seconds in the CSV.

>>> from aiops.delivery import measures
>>> from aiops.store.delivery_sql import GroupStats
>>> row = {"label": "2026-11-02T00:00:00Z", **measures(GroupStats(), 7.0)}
>>> report = {"summary": measures(GroupStats(), 7.0), "buckets": [row], "bands": "DORA 2023"}
>>> print(format_csv(report).splitlines()[1])
2026-11-02T00:00:00Z,0,0,,,0,,,,,0,0,,,0,,
>>> human_duration(5400.0), human_duration(None)
('1.5 h', '-')
"""

from __future__ import annotations

import csv
import io
from html import escape
from typing import Any

CSV_COLUMNS = (
    "bucket",
    "deployments",
    "rollbacks",
    "per_service_per_day",
    "frequency_band",
    "lead_time_n",
    "lead_time_median_s",
    "lead_time_p90_s",
    "lead_time_band",
    "change_failure_rate",
    "failures",
    "excluded_false_positives",
    "change_failure_band",
    "restore_median_s",
    "unrestored",
    "restore_band",
    "time_to_verdict_median_s",
)


def _row(label: str, m: dict[str, Any]) -> list[Any]:
    f, lt, c = m["deployment_frequency"], m["lead_time"], m["change_failure_rate"]
    r, v = m["time_to_restore"], m["time_to_verdict"]
    return [
        label,
        f["deployments"],
        f["rollbacks"],
        f["per_service_per_day"],
        f["band"],
        lt["deployments_with_commit_time"],
        lt["median_seconds"],
        lt["p90_seconds"],
        lt["band"],
        c["rate"],
        c["failures"],
        c["excluded_false_positives"],
        c["band"],
        r["median_seconds"],
        r["unrestored"],
        r["band"],
        v["median_seconds"],
    ]


def _rows(report: dict[str, Any]) -> list[list[Any]]:
    rows = [_row(b["label"], b) for b in report["buckets"]]
    rows.append(_row("total", report["summary"]))
    return rows


def format_csv(report: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in _rows(report):
        writer.writerow(["" if v is None else v for v in row])
    return out.getvalue()


def human_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.0f} s"


def format_table(report: dict[str, Any]) -> str:
    """A fixed-width table: one line per bucket, the total last, then where the bands come from."""
    head = ("bucket", "deploys", "rollbk", "lead time", "fail rate", "excluded", "restore", "verdict")
    lines = []
    for b in [*report["buckets"], {**report["summary"], "label": "total"}]:
        f, lt, c = b["deployment_frequency"], b["lead_time"], b["change_failure_rate"]
        rate = "-" if c["rate"] is None else f"{100 * c['rate']:.1f} % ({c['failures']})"
        lines.append(
            (
                b["label"][:10],
                str(f["deployments"]),
                str(f["rollbacks"]),
                human_duration(lt["median_seconds"]),
                rate,
                str(c["excluded_false_positives"]),
                human_duration(b["time_to_restore"]["median_seconds"]),
                human_duration(b["time_to_verdict"]["median_seconds"]),
            )
        )
    widths = [max(len(r[i]) for r in [head, *lines]) for i in range(len(head))]
    text = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [head, *lines]]
    s = report["summary"]
    bands = ", ".join(
        f"{name} {s[key]['band'] or '-'}"
        for name, key in (
            ("frequency", "deployment_frequency"),
            ("lead time", "lead_time"),
            ("failure rate", "change_failure_rate"),
            ("restore", "time_to_restore"),
        )
    )
    text.append(f"bands ({report['bands']}): {bands}")
    return "\n".join(text) + "\n"


WIDTH, PANEL_H, PAD = 720, 110, 44


def delivery_svg(report: dict[str, Any]) -> str:
    """Four bar panels over the buckets: deploys (failures in red), median lead time, time to
    restore and time to verdict (hours). Dependency-free, like the incident plots."""
    buckets = report["buckets"]
    panels: list[tuple[str, list[float], list[float] | None]] = [
        (
            "deploys (failed in red)",
            [float(b["deployment_frequency"]["deployments"]) for b in buckets],
            [float(b["change_failure_rate"]["failures"]) for b in buckets],
        ),
        ("median lead time (h)", [(b["lead_time"]["median_seconds"] or 0) / 3600 for b in buckets], None),
        ("median time to restore (h)", [(b["time_to_restore"]["median_seconds"] or 0) / 3600 for b in buckets], None),
        ("median time to verdict (h)", [(b["time_to_verdict"]["median_seconds"] or 0) / 3600 for b in buckets], None),
    ]
    height = PAD + len(panels) * (PANEL_H + PAD)
    title = f"delivery {report.get('team') or report.get('service') or 'fleet'}, by {report.get('bucket', '')}"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" font-family="sans-serif" '
        'font-size="11"><rect width="100%" height="100%" fill="white"/>',
        f'<text x="{PAD}" y="20" font-size="13">{escape(title)}</text>',
    ]
    n = max(1, len(buckets))
    slot = (WIDTH - 2 * PAD) / n
    for k, (name, values, overlay) in enumerate(panels):
        top = PAD + k * (PANEL_H + PAD)
        hi = max([*values, 1e-9])
        parts.append(f'<text x="{PAD}" y="{top - 6}">{escape(name)} (max {hi:.3g})</text>')
        parts.append(
            f'<rect x="{PAD}" y="{top}" width="{WIDTH - 2 * PAD}" height="{PANEL_H}" fill="none" stroke="#ccc"/>'
        )
        for i, value in enumerate(values):
            h = value / hi * PANEL_H
            x = PAD + i * slot + slot * 0.1
            bar = f'x="{x:.1f}" y="{top + PANEL_H - h:.1f}" width="{slot * 0.8:.1f}" height="{h:.1f}"'
            parts.append(f'<rect {bar} fill="#1f77b4"/>')
            if overlay is not None and overlay[i] > 0:
                fh = overlay[i] / hi * PANEL_H
                parts.append(
                    f'<rect x="{x:.1f}" y="{top + PANEL_H - fh:.1f}" width="{slot * 0.8:.1f}" height="{fh:.1f}" '
                    'fill="#d62728"/>'
                )
    if buckets:
        for b, x in ((buckets[0], PAD), (buckets[-1], WIDTH - PAD - 70)):
            parts.append(f'<text x="{x:.1f}" y="{height - 10}">{escape(b["label"][:10])}</text>')
    parts.append("</svg>")
    return "".join(parts)

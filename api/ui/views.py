"""What the console's pages show, computed from store rows: timelines and the fleet summary.

Plain functions of plain data (no request, no store) so they are tested with lists.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from html import escape
from typing import Any
from urllib.parse import quote

from aiops.model import DeployKind, Feedback, Incident, IncidentStatus, VerdictResult
from aiops.store.base import DeploymentRow

VERDICT_COLOURS = {
    VerdictResult.PASS.value: "#2ca02c",
    VerdictResult.FAIL.value: "#d62728",
    VerdictResult.INCONCLUSIVE.value: "#ff9f1c",
    VerdictResult.PENDING.value: "#999999",
}


@dataclass(frozen=True, slots=True)
class Event:
    ts: float
    what: str


def incident_timeline(
    incident: Incident,
    deploy: DeploymentRow | None,
    later_deploys: Iterable[DeploymentRow],
    feedback: Iterable[Feedback],
    notifications: Iterable[dict[str, Any]] = (),
) -> list[Event]:
    """Deployed, opened, acknowledged, rolled back, feedback, resolved: in time order.

    The store keeps the lifecycle as a status and its last change (``updated_at``), so an
    acknowledgement shows at that time while the incident is still acknowledged.

    >>> inc = Incident("i1", "api", 200.0, "d1", 0.9, ("lat",), IncidentStatus.RESOLVED, resolved_at=500.0)
    >>> [e.what for e in incident_timeline(inc, None, [], [])]
    ['opened (confidence 90%)', 'resolved']
    """
    events: list[Event] = []
    if deploy is not None:
        d = deploy.deploy
        events.append(Event(d.ts, f"{d.service} {d.version} deployed ({d.kind.value})"))
        for row in later_deploys:
            later = row.deploy
            if later.ts > d.ts and later.id != d.id:
                verb = "rolled back to" if later.kind is DeployKind.ROLLBACK else "next deploy:"
                events.append(Event(later.ts, f"{verb} {later.version}"))
                break
    events.append(Event(incident.opened_at, f"opened (confidence {incident.confidence:.0%})"))
    if incident.status is IncidentStatus.ACKNOWLEDGED and incident.updated_at is not None:
        events.append(Event(incident.updated_at, "acknowledged"))
    for fb in feedback:
        note = f": {fb.note}" if fb.note else ""
        events.append(Event(fb.ts, f"feedback {fb.label.value.replace('_', ' ')}{note}"))
    if incident.resolved_at is not None:
        events.append(Event(incident.resolved_at, "resolved"))
    for n in notifications:
        if n["status"] != "skipped":
            events.append(Event(n["at"], f"{n['what']} {n['status']} to {n['channel']}"))
    return sorted(events, key=lambda e: e.ts)


def deploy_timeline_svg(rows: Sequence[DeploymentRow], width: int = 900) -> str:
    """One row per service, one dot per release coloured by its verdict, each a link to its evidence.

    >>> from aiops.model import DeployEvent
    >>> svg = deploy_timeline_svg([DeploymentRow(DeployEvent.create("api", "v1", 100.0, id="d1"), None)])
    >>> 'href="/ui/deployments/d1"' in svg and "#999999" in svg
    True
    """
    services = sorted({r.deploy.service for r in rows})
    if not rows:
        return ""
    label_w, row_h, pad = 160, 28, 12
    t0 = min(r.deploy.ts for r in rows)
    t1 = max(r.deploy.ts for r in rows)
    span = (t1 - t0) or 1.0
    height = pad * 2 + row_h * len(services)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="{width}" height="{height}" '
        'font-family="sans-serif" font-size="12" role="img" aria-label="releases per service by verdict">'
    ]
    for k, service in enumerate(services):
        y = pad + k * row_h + row_h / 2
        parts.append(f'<text x="4" y="{y + 4:.0f}">{escape(service[:22])}</text>')
        parts.append(f'<line x1="{label_w}" y1="{y:.0f}" x2="{width - pad}" y2="{y:.0f}" stroke="#ddd"/>')
    for row in rows:
        d = row.deploy
        y = pad + services.index(d.service) * row_h + row_h / 2
        x = label_w + (d.ts - t0) / span * (width - label_w - 2 * pad)
        verdict = row.verdict.verdict.value if row.verdict else VerdictResult.PENDING.value
        colour = VERDICT_COLOURS[verdict]
        shape = (
            f'<rect x="{x - 6:.1f}" y="{y - 6:.0f}" width="12" height="12" fill="{colour}"/>'
            if d.kind is DeployKind.ROLLBACK
            else f'<circle cx="{x:.1f}" cy="{y:.0f}" r="7" fill="{colour}"/>'
        )
        parts.append(
            f'<a href="/ui/deployments/{quote(d.id, safe="")}" class="verdict-{verdict}">'
            f"<title>{escape(d.service)} {escape(d.version)}: {verdict}</title>{shape}</a>"
        )
    parts.append("</svg>")
    return "".join(parts)


@dataclass(frozen=True, slots=True)
class FleetRow:
    service: str
    last: DeploymentRow | None
    open_incidents: int
    worst_severity: str


def fleet_rows(latest: Iterable[DeploymentRow], open_counts: dict[tuple[str, str], int]) -> list[FleetRow]:
    """Every service that deployed or has open incidents: its last release and what is open.

    >>> [r.service for r in fleet_rows([], {("api", "critical"): 2, ("db", "warning"): 0})]
    ['api', 'db']
    """
    last = {r.deploy.service: r for r in latest}
    per_service: dict[str, dict[str, int]] = {}
    for (service, severity), n in open_counts.items():
        per_service.setdefault(service, {})[severity] = n
    out = []
    for service in sorted(set(last) | set(per_service)):
        counts = per_service.get(service, {})
        open_n = sum(counts.values())
        worst = "critical" if counts.get("critical") else ("warning" if open_n else "")
        out.append(FleetRow(service, last.get(service), open_n, worst))
    return out


def focus_on_deploy(incident: Incident, deploy_ts: float | None, min_before: float = 900.0) -> Incident:
    """The incident with its plot series cut to just before the deploy: the stored series starts an
    hour before it and may end minutes after (an early fail), which would leave "after" a sliver.
    Keeps ``max(min_before, 3 x the after part)`` of "before".

    >>> inc = Incident("i", "api", 0.0, "d", 0.9, ("m",), series=(("m", (0.0, 3000.0, 3500.0, 3700.0), (1, 1, 1, 2)),))
    >>> focus_on_deploy(inc, 3600.0).series[0][1]
    (3000.0, 3500.0, 3700.0)
    """
    if deploy_ts is None:
        return incident
    trimmed = []
    for metric, ts, values in incident.series:
        after = max((t for t in ts), default=deploy_ts) - deploy_ts
        start = deploy_ts - max(min_before, 3 * after)
        keep = [(t, v) for t, v in zip(ts, values, strict=True) if t >= start]
        if len(keep) < 2:
            trimmed.append((metric, ts, values))
        else:
            trimmed.append((metric, tuple(t for t, _ in keep), tuple(v for _, v in keep)))
    return replace(incident, series=tuple(trimmed))

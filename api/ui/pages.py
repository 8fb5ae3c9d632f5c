"""The console's pages (GET): incidents, one incident, deployments, one deployment, the fleet.

Routes here only read: each asks the store one or a few indexed, paged questions and hands plain
rows to a template. Acting on an incident is in :mod:`aiops.api.ui.actions`.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from aiops.api.deps import StoreDep
from aiops.api.plot import incident_svg
from aiops.api.ui.render import page
from aiops.api.ui.session import Viewer, current_viewer
from aiops.api.ui.views import deploy_timeline_svg, fleet_rows, focus_on_deploy, incident_timeline
from aiops.calibration import explain
from aiops.model import Incident, IncidentStatus
from aiops.store.base import IncidentFilter

router = APIRouter(include_in_schema=False)
ViewerDep = Annotated[Viewer, Depends(current_viewer)]
SINCE_CHOICES = {"": None, "1h": 3600.0, "24h": 86400.0, "7d": 7 * 86400.0, "30d": 30 * 86400.0}
SECTION_SIZE = 50
PAGE_SIZE = 100
REFRESH_S = 30


class PageError(Exception):
    """A page asked about something that is not there, or with a bad parameter: shown, not raised."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


@router.get("/ui", response_class=HTMLResponse)
@router.get("/ui/", response_class=HTMLResponse)
@router.get("/ui/incidents", response_class=HTMLResponse)
def incidents_page(
    request: Request,
    store: StoreDep,
    viewer: ViewerDep,
    service: Annotated[str, Query(max_length=256)] = "",
    status: Annotated[str, Query(max_length=32)] = "",
    since: Annotated[str, Query(max_length=8)] = "",
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    """Open incidents first, then acknowledged, then the latest resolved; or one status, paged."""
    if status and status not in {s.value for s in IncidentStatus}:
        raise PageError(400, f"status: {status!r} is not one of open, acknowledged, resolved")
    if since not in SINCE_CHOICES:
        raise PageError(400, f"since: {since!r} is not one of {', '.join(k for k in SINCE_CHOICES if k)}")
    window = SINCE_CHOICES[since]
    base = IncidentFilter(service=service.strip() or None, since=time.time() - window if window else None)
    sections: list[tuple[str, list[Incident], str | None]] = []
    next_cursor = None
    try:
        if status:
            filt = IncidentFilter(base.service, IncidentStatus(status), None, base.since)
            found = store.list_incidents(filt, limit=PAGE_SIZE, cursor=cursor)
            sections.append((status, found.items, None))
            next_cursor = found.next_cursor
        else:
            for st, size in (
                (IncidentStatus.OPEN, SECTION_SIZE),
                (IncidentStatus.ACKNOWLEDGED, SECTION_SIZE),
                (IncidentStatus.RESOLVED, 20),
            ):
                found = store.list_incidents(IncidentFilter(base.service, st, None, base.since), limit=size)
                sections.append((st.value, found.items, found.next_cursor))
    except ValueError as exc:  # a cursor we did not issue
        raise PageError(400, str(exc)) from None
    return page(
        request,
        "incidents.html",
        viewer,
        sections=sections,
        service=service,
        status=status,
        since=since,
        since_choices=[k for k in SINCE_CHOICES if k],
        next_cursor=next_cursor,
        refresh_s=REFRESH_S,
    )


@router.get("/ui/incidents/{incident_id}", response_class=HTMLResponse)
def incident_page(
    request: Request,
    incident_id: str,
    store: StoreDep,
    viewer: ViewerDep,
    done: Annotated[str, Query(max_length=64)] = "",
    error: Annotated[str, Query(max_length=500)] = "",
) -> Response:
    incident = store.get_incident(incident_id)
    if incident is None:
        raise PageError(404, f"incident {incident_id!r} is unknown")
    deploy = store.get_deployment(incident.deployment_id) if incident.deployment_id else None
    later = []
    if deploy is not None:
        # Newest first: the releases after the blamed one are among the latest of the service.
        later = sorted(store.list_deployments(service=incident.service, limit=50).items, key=lambda r: r.deploy.ts)
    service_feedback = store.list_feedback(service=incident.service)
    mine = [fb for fb in service_feedback if fb.target_kind == "incident" and fb.target_id == incident.id]
    judged = set(incident.metrics) | {m.metric for m in incident.evidence}
    calibration = [c for c in explain(service_feedback) if c["metric"] in judged]
    expected = {m.metric: m.baseline for m in incident.evidence if m.baseline is not None}
    deploy_ts = deploy.deploy.ts if deploy else None
    plot = incident_svg(focus_on_deploy(incident, deploy_ts), deploy_ts, levels=expected)
    return page(
        request,
        "incident.html",
        viewer,
        incident=incident,
        deploy=deploy,
        plot=plot,
        timeline=incident_timeline(incident, deploy, later, mine, _notifications(store, incident.id)),
        feedback=mine,
        calibration=calibration,
        done=done,
        error=error,
    )


def _notifications(store: StoreDep, incident_id: str) -> list[dict[str, Any]]:
    """What the notification channels did with this incident's opening and resolution."""
    out = []
    for what in ("opened", "resolved"):
        for row in store.outbox_deliveries(f"incident.{what}:{incident_id}"):
            out.append({**row, "what": f"notice of {what}"})
    return out


@router.get("/ui/deployments", response_class=HTMLResponse)
def deployments_page(
    request: Request,
    store: StoreDep,
    viewer: ViewerDep,
    service: Annotated[str, Query(max_length=256)] = "",
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    """Releases per service, coloured by verdict: the latest 200 (or the next 200 with a cursor)."""
    try:
        found = store.list_deployments(service=service.strip() or None, limit=200, cursor=cursor)
    except ValueError as exc:
        raise PageError(400, str(exc)) from None
    return page(
        request,
        "deployments.html",
        viewer,
        rows=found.items,
        timeline=deploy_timeline_svg(found.items),
        service=service,
        next_cursor=found.next_cursor,
    )


@router.get("/ui/deployments/{deployment_id}", response_class=HTMLResponse)
def deployment_page(request: Request, deployment_id: str, store: StoreDep, viewer: ViewerDep) -> Response:
    row = store.get_deployment(deployment_id)
    if row is None:
        raise PageError(404, f"deployment {deployment_id!r} is unknown")
    incidents = store.list_incidents(IncidentFilter(deployment_id=deployment_id), limit=20).items
    return page(request, "deployment.html", viewer, row=row, incidents=incidents)


@router.get("/ui/fleet", response_class=HTMLResponse)
def fleet_page(request: Request, store: StoreDep, viewer: ViewerDep) -> Response:
    rows = fleet_rows(store.latest_deployments(), store.count_open_incidents())
    return page(request, "fleet.html", viewer, rows=rows)


DELIVERY_RANGES = {"7d": 7, "30d": 30, "90d": 90, "365d": 365}


@router.get("/ui/delivery", response_class=HTMLResponse)
def delivery_page(
    request: Request,
    store: StoreDep,
    viewer: ViewerDep,
    team: Annotated[str, Query(max_length=256)] = "",
    service: Annotated[str, Query(max_length=256)] = "",
    since: Annotated[str, Query(max_length=8)] = "30d",
    bucket: Annotated[str, Query(max_length=8)] = "week",
) -> Response:
    """How often, how fast and how safely a team (or service, or the fleet) ships: the DORA measures
    and time to verdict over a range, per bucket, each in its band (aiops.delivery, SQL over the store)."""
    from aiops.delivery import DAY, Bucket, delivery_report

    if since not in DELIVERY_RANGES:
        raise PageError(400, f"since: {since!r} is not one of {', '.join(DELIVERY_RANGES)}")
    if bucket not in {b.value for b in Bucket}:
        raise PageError(400, f"bucket: {bucket!r} is not one of {', '.join(b.value for b in Bucket)}")
    end = float(int(time.time()))
    report = delivery_report(
        store,
        start=end - DELIVERY_RANGES[since] * DAY,
        end=end,
        bucket=Bucket(bucket),
        service=service.strip() or None,
        team=team.strip() or None,
    )
    return page(
        request,
        "delivery.html",
        viewer,
        report=report,
        team=team,
        service=service,
        since=since,
        bucket=bucket,
        ranges=list(DELIVERY_RANGES),
        buckets=[b.value for b in Bucket],
    )

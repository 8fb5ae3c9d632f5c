"""Incidents: what is wrong, since when, and which deploy (if any) is to blame."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Response

from aiops.api.deps import ReadAuth, StoreDep, WriteAuth
from aiops.api.plot import incident_svg
from aiops.api.schemas import ErrorOut, IncidentOut, IncidentPage
from aiops.model import IncidentStatus
from aiops.store.base import MAX_PAGE, IncidentFilter

router = APIRouter(tags=["incidents"])
IncidentId = Annotated[str, Path(min_length=1, max_length=256)]


@router.get("/v1/incidents", response_model=IncidentPage, responses={400: {"model": ErrorOut}})
def list_incidents(
    store: StoreDep,
    _: ReadAuth,
    service: Annotated[str | None, Query(max_length=256)] = None,
    status: IncidentStatus | None = None,
    deployment_id: Annotated[str | None, Query(max_length=256)] = None,
    since: Annotated[float | None, Query(ge=0, le=1e11, description="opened at or after (epoch s)")] = None,
    until: Annotated[float | None, Query(ge=0, le=1e11, description="opened before (epoch s)")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> IncidentPage:
    filt = IncidentFilter(service=service, status=status, deployment_id=deployment_id, since=since, until=until)
    try:
        page = store.list_incidents(filt, limit=limit, cursor=cursor)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    return IncidentPage(items=[IncidentOut.of(i) for i in page.items], next_cursor=page.next_cursor)


@router.get("/v1/incidents/{incident_id}", response_model=IncidentOut, responses={404: {"model": ErrorOut}})
def get_incident(incident_id: IncidentId, store: StoreDep, _: ReadAuth) -> IncidentOut:
    incident = store.get_incident(incident_id)
    if incident is None:
        raise HTTPException(404, f"incident {incident_id!r} is unknown")
    return IncidentOut.of(incident)


def _set_status(store: StoreDep, incident_id: str, status: IncidentStatus) -> IncidentOut:
    current = store.get_incident(incident_id)
    if current is None:
        raise HTTPException(404, f"incident {incident_id!r} is unknown")
    if current.status is IncidentStatus.RESOLVED and status is IncidentStatus.ACKNOWLEDGED:
        raise HTTPException(409, f"incident {incident_id!r} is resolved; it cannot be acknowledged")
    updated = store.set_incident_status(incident_id, status, time.time())
    assert updated is not None
    return IncidentOut.of(updated)


@router.post(
    "/v1/incidents/{incident_id}/acknowledge",
    response_model=IncidentOut,
    responses={404: {"model": ErrorOut}, 409: {"model": ErrorOut}},
)
def acknowledge(incident_id: IncidentId, store: StoreDep, _: WriteAuth) -> IncidentOut:
    """A person is on it: the incident stays open for dashboards but stops paging."""
    return _set_status(store, incident_id, IncidentStatus.ACKNOWLEDGED)


@router.post("/v1/incidents/{incident_id}/resolve", response_model=IncidentOut, responses={404: {"model": ErrorOut}})
def resolve(incident_id: IncidentId, store: StoreDep, _: WriteAuth) -> IncidentOut:
    return _set_status(store, incident_id, IncidentStatus.RESOLVED)


@router.get(
    "/v1/incidents/{incident_id}/plot.svg",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}, 404: {"model": ErrorOut}},
)
def incident_plot(incident_id: IncidentId, store: StoreDep, _: ReadAuth) -> Response:
    """The incident's metrics around the deploy it blames (a dashed line marks the deploy)."""
    incident = store.get_incident(incident_id)
    if incident is None:
        raise HTTPException(404, f"incident {incident_id!r} is unknown")
    row = store.get_deployment(incident.deployment_id) if incident.deployment_id else None
    return Response(incident_svg(incident, row.deploy.ts if row else None), media_type="image/svg+xml")

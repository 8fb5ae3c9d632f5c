"""Incidents: what is wrong, since when, and which deploy (if any) is to blame."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query

from aiops.api.deps import ReadAuth, StoreDep
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

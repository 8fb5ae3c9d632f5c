"""Deployments and their verdicts: what release gates and dashboards ask (docs/contracts.md 6, 10)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query

from aiops.api.deps import ReadAuth, StoreDep
from aiops.api.schemas import DeploymentOut, DeploymentPage, ErrorOut, VerdictOut
from aiops.store.base import MAX_PAGE

router = APIRouter(tags=["deployments"])

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="page size")]
Cursor = Annotated[str | None, Query(max_length=512, description="next_cursor of the previous page")]
DeploymentId = Annotated[str, Path(min_length=1, max_length=256)]


@router.get("/v1/deployments", response_model=DeploymentPage, responses={400: {"model": ErrorOut}})
def list_deployments(
    store: StoreDep,
    _: ReadAuth,
    service: Annotated[str | None, Query(max_length=256)] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> DeploymentPage:
    try:
        page = store.list_deployments(service=service, limit=limit, cursor=cursor)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    return DeploymentPage(items=[DeploymentOut.of(r) for r in page.items], next_cursor=page.next_cursor)


@router.get("/v1/deployments/{deployment_id}", response_model=DeploymentOut, responses={404: {"model": ErrorOut}})
def get_deployment(deployment_id: DeploymentId, store: StoreDep, _: ReadAuth) -> DeploymentOut:
    row = store.get_deployment(deployment_id)
    if row is None:
        raise HTTPException(404, f"deployment {deployment_id!r} is unknown")
    return DeploymentOut.of(row)


@router.get("/v1/deployments/{deployment_id}/verdict", response_model=VerdictOut, responses={404: {"model": ErrorOut}})
def get_verdict(deployment_id: DeploymentId, store: StoreDep, _: ReadAuth) -> VerdictOut:
    row = store.get_deployment(deployment_id)
    if row is None:
        raise HTTPException(404, f"deployment {deployment_id!r} is unknown")
    return VerdictOut.of(row)


@router.get("/v1/verdict", response_model=VerdictOut, responses={404: {"model": ErrorOut}})
def find_verdict(
    store: StoreDep,
    _: ReadAuth,
    service: Annotated[str, Query(min_length=1, max_length=256)],
    version: Annotated[str, Query(min_length=1, max_length=256)],
) -> VerdictOut:
    """The verdict of the latest deployment of ``version`` of ``service`` (for gates that know no id)."""
    row = store.find_deployment(service, version)
    if row is None:
        raise HTTPException(404, f"no deployment of {service} {version}")
    return VerdictOut.of(row)

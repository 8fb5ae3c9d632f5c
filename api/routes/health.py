"""Liveness, readiness and the Prometheus exposition: open endpoints, no token needed."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from aiops.api.deps import MetricsDep, StoreDep
from aiops.api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"model": Health}})
def readyz(store: StoreDep, response: Response) -> Health:
    if store.ping():
        return Health(status="ready")
    response.status_code = 503
    return Health(status="unavailable", detail="store does not answer")


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
def metrics(m: MetricsDep) -> Response:
    return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)

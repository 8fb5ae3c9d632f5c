"""Release gates: a Flagger webhook (200 to proceed, non-2xx with the reason to halt).

Argo Rollouts uses the plain verdict endpoint as a ``web`` metric; see deploy/argo/.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from aiops.api.deps import ReadAuth, StoreDep
from aiops.api.schemas import VerdictOut
from aiops.store.base import DeploymentRow

router = APIRouter(tags=["gates"])


class FlaggerWebhook(BaseModel):
    """What Flagger posts to a webhook; ``metadata`` comes from the Canary's webhook spec."""

    name: str = Field(min_length=1, max_length=256)
    namespace: str = Field(default="", max_length=256)
    phase: str = Field(default="", max_length=64)
    metadata: dict[str, str] = Field(default_factory=dict, max_length=50)


def _find(store: StoreDep, hook: FlaggerWebhook) -> DeploymentRow | None:
    meta = hook.metadata
    if meta.get("deployment_id"):
        return store.get_deployment(meta["deployment_id"])
    service = meta.get("service") or hook.name
    if meta.get("version"):
        return store.find_deployment(service, meta["version"])
    latest = store.list_deployments(service=service, limit=1).items
    return latest[0] if latest else None


@router.post(
    "/v1/gates/flagger",
    responses={
        200: {"description": "proceed"},
        409: {"description": "halt: the deploy failed (or, strict, is not a pass yet)"},
        404: {"description": "halt: no such deployment"},
    },
)
def flagger_gate(
    hook: FlaggerWebhook,
    store: StoreDep,
    _: ReadAuth,
    strict: Annotated[bool, Query(description="halt unless the verdict is pass")] = False,
) -> JSONResponse:
    """Proceed on pass (and, unless ``strict``, while pending or inconclusive); halt on fail."""
    row = _find(store, hook)
    if row is None:
        return JSONResponse({"proceed": False, "reason": f"no deployment found for {hook.name}"}, status_code=404)
    verdict = VerdictOut.of(row)
    proceed = verdict.verdict == "pass" or (not strict and verdict.verdict in ("pending", "inconclusive"))
    body: dict[str, Any] = {
        "proceed": proceed,
        "deployment_id": verdict.deployment_id,
        "verdict": verdict.verdict,
        "score": verdict.score,
        "reason": verdict.reason,
    }
    return JSONResponse(body, status_code=200 if proceed else 409)

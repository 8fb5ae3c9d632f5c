"""Feedback: people label incidents and verdicts; false positives recalibrate detection."""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Response

from aiops.api.deps import PipelineDep, ReadAuth, StoreDep, WriteAuth
from aiops.api.schemas import ErrorOut, FeedbackIn, FeedbackOut
from aiops.calibration import explain
from aiops.model import Feedback, MetricVerdict, VerdictResult

router = APIRouter(tags=["feedback"])
Id = Annotated[str, Path(min_length=1, max_length=256)]


def _out(fb: Feedback) -> FeedbackOut:
    return FeedbackOut(
        id=fb.id,
        target_kind=fb.target_kind,
        target_id=fb.target_id,
        label=fb.label.value,
        service=fb.service,
        metrics=list(fb.metrics),
        note=fb.note,
        ts=fb.ts,
        changes=dict(fb.changes),
    )


def _record(
    store: StoreDep,
    pipeline: PipelineDep,
    kind: str,
    target: str,
    service: str,
    evidence: tuple[MetricVerdict, ...],
    body: FeedbackIn,
) -> FeedbackOut:
    judged = {m.metric: m for m in evidence}
    metrics = (
        body.metrics
        if body.metrics is not None
        else [m.metric for m in evidence if m.verdict is VerdictResult.FAIL or kind == "incident"]
    )
    unknown = sorted(set(metrics) - set(judged))
    if unknown:
        raise HTTPException(422, f"metrics: {', '.join(unknown)} not in the evidence of {kind} {target!r}")
    changes = tuple(sorted((m, float(c)) for m in metrics if (c := judged[m].change) is not None))
    fb = Feedback(
        kind,
        target,
        body.label,
        service,
        tuple(metrics),
        body.note,
        time.time(),
        f"fb-{uuid.uuid4().hex[:16]}",
        changes,
    )  # type: ignore[arg-type]
    store.add_feedback(fb)
    pipeline.refresh_calibration()
    return _out(fb)


@router.post(
    "/v1/incidents/{incident_id}/feedback",
    response_model=FeedbackOut,
    status_code=201,
    responses={404: {"model": ErrorOut}, 422: {"model": ErrorOut}},
)
def incident_feedback(
    incident_id: Id, body: FeedbackIn, store: StoreDep, pipeline: PipelineDep, _: WriteAuth
) -> FeedbackOut:
    incident = store.get_incident(incident_id)
    if incident is None:
        raise HTTPException(404, f"incident {incident_id!r} is unknown")
    return _record(store, pipeline, "incident", incident_id, incident.service, incident.evidence, body)


@router.post(
    "/v1/deployments/{deployment_id}/feedback",
    response_model=FeedbackOut,
    status_code=201,
    responses={404: {"model": ErrorOut}, 409: {"model": ErrorOut}, 422: {"model": ErrorOut}},
)
def verdict_feedback(
    deployment_id: Id, body: FeedbackIn, store: StoreDep, pipeline: PipelineDep, _: WriteAuth
) -> FeedbackOut:
    row = store.get_deployment(deployment_id)
    if row is None:
        raise HTTPException(404, f"deployment {deployment_id!r} is unknown")
    if row.verdict is None:
        raise HTTPException(409, f"deployment {deployment_id!r} has no verdict yet")
    return _record(store, pipeline, "deployment", deployment_id, row.deploy.service, row.verdict.metrics, body)


@router.get("/v1/feedback", response_model=list[FeedbackOut])
def list_feedback(
    store: StoreDep, _: ReadAuth, service: Annotated[str | None, Query(max_length=256)] = None
) -> list[FeedbackOut]:
    """Every judgement, true positives included: the labelled examples, for export."""
    return [_out(fb) for fb in store.list_feedback(service=service)]


@router.delete("/v1/feedback/{feedback_id}", status_code=204, responses={404: {"model": ErrorOut}})
def delete_feedback(feedback_id: Id, store: StoreDep, pipeline: PipelineDep, _: WriteAuth) -> Response:
    """Undo a judgement; the calibration it caused goes with it."""
    if not store.delete_feedback(feedback_id):
        raise HTTPException(404, f"feedback {feedback_id!r} is unknown")
    pipeline.refresh_calibration()
    return Response(status_code=204)


@router.get("/v1/calibration")
def calibration(store: StoreDep, _: ReadAuth) -> list[dict[str, Any]]:
    """What feedback changed, and why: one entry per recalibrated service metric."""
    return explain(store.list_feedback())

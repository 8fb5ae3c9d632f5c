"""The API's request and response shapes (they are the OpenAPI spec dashboards and gates read)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from aiops.model import FeedbackLabel, Incident, MetricVerdict, Verdict
from aiops.store.base import DeploymentRow


class MetricVerdictOut(BaseModel):
    metric: str
    verdict: str
    baseline: float | None = None
    current: float | None = None
    change: float | None = None
    p_value: float | None = None
    effect: float | None = None
    direction: str
    baseline_n: int = 0
    current_n: int = 0
    onset: float | None = None
    reason: str = ""

    @classmethod
    def of(cls, m: MetricVerdict) -> MetricVerdictOut:
        d = m.to_dict()
        if d["change"] is not None and d["change"] != d["change"]:
            d["change"] = None
        return cls(**d)


class VerdictOut(BaseModel):
    deployment_id: str
    service: str
    version: str = ""
    verdict: Literal["pending", "pass", "fail", "inconclusive"]
    score: float = Field(ge=0, le=100)
    decided_at: float | None = None
    metrics: list[MetricVerdictOut] = []
    reason: str = ""
    fleet_wide: bool = False

    @classmethod
    def of(cls, row: DeploymentRow) -> VerdictOut:
        d = row.deploy
        v: Verdict | None = row.verdict
        if v is None:
            return cls(
                deployment_id=d.id,
                service=d.service,
                version=d.version,
                verdict="pending",
                score=50.0,
                reason="analysis window still open",
            )
        return cls(
            deployment_id=v.deployment_id,
            service=v.service,
            version=d.version,
            verdict=v.verdict.value,  # type: ignore[arg-type]
            score=v.score,
            decided_at=v.decided_at,
            metrics=[MetricVerdictOut.of(m) for m in v.metrics],
            reason=v.reason,
            fleet_wide=v.fleet_wide,
        )


class DeploymentOut(BaseModel):
    id: str
    service: str
    version: str
    ts: float
    kind: str
    environment: str
    verdict: str
    score: float | None = None
    decided_at: float | None = None

    @classmethod
    def of(cls, row: DeploymentRow) -> DeploymentOut:
        d, v = row.deploy, row.verdict
        return cls(
            id=d.id,
            service=d.service,
            version=d.version,
            ts=d.ts,
            kind=d.kind.value,
            environment=d.environment,
            verdict=v.verdict.value if v else "pending",
            score=v.score if v else None,
            decided_at=v.decided_at if v else None,
        )


class DeploymentPage(BaseModel):
    items: list[DeploymentOut]
    next_cursor: str | None


class IncidentOut(BaseModel):
    id: str
    service: str
    status: Literal["open", "acknowledged", "resolved"]
    severity: str
    # Two clocks meet here (docs/contracts.md): the engine stamps event time, a person wall-clock time.
    opened_at: float = Field(description="event time (epoch s, the data's clock) at which the incident opened")
    updated_at: float | None = Field(
        None,
        description="epoch s of the last change: event time when the engine made it, wall-clock time when a "
        "person acknowledged or resolved the incident through the API",
    )
    resolved_at: float | None = Field(
        None,
        description="epoch s: event time when the engine saw the metrics come back, wall-clock time when a "
        "person resolved it through the API",
    )
    deployment_id: str | None
    confidence: float = Field(ge=0, le=1)
    metrics: list[str]
    summary: str = ""
    evidence: list[MetricVerdictOut] = []

    @classmethod
    def of(cls, i: Incident) -> IncidentOut:
        d = i.to_dict()
        d["evidence"] = [MetricVerdictOut.of(m) for m in i.evidence]
        return cls(**d)


class IncidentPage(BaseModel):
    items: list[IncidentOut]
    next_cursor: str | None


class RejectionOut(BaseModel):
    index: int
    reason: str


class IngestReply(BaseModel):
    accepted: int
    rejected: list[RejectionOut]
    skipped: int = 0


class FeedbackIn(BaseModel):
    label: FeedbackLabel
    note: str = Field(default="", max_length=2000)
    metrics: list[str] | None = Field(default=None, max_length=50)


class FeedbackOut(BaseModel):
    id: str
    target_kind: str
    target_id: str
    label: str
    service: str
    metrics: list[str]
    note: str
    ts: float
    changes: dict[str, float] = {}


class Health(BaseModel):
    status: str
    detail: str = ""


class ErrorOut(BaseModel):
    detail: str

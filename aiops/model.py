"""The domain model: the handful of nouns every other module speaks.

Records arrive as :class:`MetricSample` and :class:`DeployEvent`; the engine turns them into
:class:`Verdict` (one per deployment), :class:`Anomaly` and :class:`Incident`; people answer with
:class:`Feedback`. Everything here is immutable plain data, so it can be hashed, snapshotted,
compared in tests and written to a store without translation layers.

>>> d = DeployEvent.create("checkout", "v2", 1795000000.0)
>>> d.id == DeployEvent.create("checkout", "v2", 1795000000.0).id
True
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

# An incident's series named "<metric> (expected)" holds that metric's counterfactual: what it was
# expected to do without the deploy (drawn beside the metric in the evidence plot).
EXPECTED_SUFFIX = "(expected)"


class DeployKind(StrEnum):
    """What a deploy event did to the running version."""

    DEPLOY = "deploy"
    ROLLBACK = "rollback"


class VerdictResult(StrEnum):
    PENDING = "pending"
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


class Direction(StrEnum):
    """Which way a metric moves when a service gets worse (the rules: :mod:`aiops.direction`)."""

    UP_IS_WORSE = "up"
    DOWN_IS_WORSE = "down"
    BOTH = "both"


class IncidentStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class FeedbackLabel(StrEnum):
    TRUE_POSITIVE = "true_positive"
    FALSE_POSITIVE = "false_positive"


@dataclass(frozen=True, slots=True)
class MetricSample:
    """One observation of one metric of one service, at event time ``ts`` (epoch seconds)."""

    service: str
    metric: str
    ts: float
    value: float
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class DeployEvent:
    """A release (or rollback) of ``version`` of ``service`` at event time ``ts``."""

    id: str
    service: str
    version: str
    ts: float
    kind: DeployKind = DeployKind.DEPLOY
    environment: str = ""
    # Delivery metrics (docs/contracts.md section 12): who shipped it, and when its change was committed or merged.
    team: str = ""
    commit_ts: float | None = None
    artifact: str = ""  # the CDEvents artifactId (a purl): ties change.merged events to this deploy

    @staticmethod
    def stable_id(service: str, version: str, ts: float) -> str:
        """The id used when the source gave none: the same event always gets the same id."""
        digest = hashlib.sha256(f"{service}\x00{version}\x00{ts:.3f}".encode()).hexdigest()[:16]
        return f"dep-{digest}"

    @classmethod
    def create(
        cls,
        service: str,
        version: str,
        ts: float,
        kind: DeployKind = DeployKind.DEPLOY,
        environment: str = "",
        id: str | None = None,
        *,
        team: str = "",
        commit_ts: float | None = None,
        artifact: str = "",
    ) -> DeployEvent:
        dep_id = id or cls.stable_id(service, version, ts)
        return cls(dep_id, service, version, ts, kind, environment, team, commit_ts, artifact)


Record = MetricSample | DeployEvent


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    """A change merged at ``ts`` that went into the build ``artifact`` (a CDEvents ``change.merged``).

    Not a :data:`Record`: the engine never sees it. The store keeps it, and a deploy of the same
    artifact takes its merge time as the commit time of its lead time (aiops/delivery.py).

    >>> ChangeEvent("chg-1", "pkg:oci/api@sha256:ab", 1795000000.0).artifact
    'pkg:oci/api@sha256:ab'
    """

    id: str
    artifact: str
    ts: float
    service: str = ""  # the repository it was merged in (``subject.content.repository.id``), if given


@dataclass(frozen=True, slots=True)
class MetricVerdict:
    """The judge's answer for one metric: what it compared and why it decided."""

    metric: str
    verdict: VerdictResult
    baseline: float | None = None
    current: float | None = None
    change: float | None = None  # relative change of the current level vs the baseline level
    p_value: float | None = None
    effect: float | None = None  # shift in robust standard deviations of the baseline
    direction: Direction = Direction.UP_IS_WORSE
    baseline_n: int = 0
    current_n: int = 0
    onset: float | None = None
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "verdict": self.verdict.value,
            "baseline": self.baseline,
            "current": self.current,
            "change": self.change,
            "p_value": self.p_value,
            "effect": self.effect,
            "direction": self.direction.value,
            "baseline_n": self.baseline_n,
            "current_n": self.current_n,
            "onset": self.onset,
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MetricVerdict:
        return cls(
            metric=d["metric"],
            verdict=VerdictResult(d["verdict"]),
            baseline=d.get("baseline"),
            current=d.get("current"),
            change=d.get("change"),
            p_value=d.get("p_value"),
            effect=d.get("effect"),
            direction=Direction(d.get("direction", "up")),
            baseline_n=int(d.get("baseline_n", 0)),
            current_n=int(d.get("current_n", 0)),
            onset=d.get("onset"),
            reason=d.get("reason", ""),
        )


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a deployment made its service worse; ``score`` 0 (clearly worse) .. 100 (clean)."""

    deployment_id: str
    service: str
    verdict: VerdictResult
    score: float
    decided_at: float | None
    metrics: tuple[MetricVerdict, ...] = ()
    reason: str = ""
    version: str = ""
    fleet_wide: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "deployment_id": self.deployment_id,
            "service": self.service,
            "version": self.version,
            "verdict": self.verdict.value,
            "score": self.score,
            "decided_at": self.decided_at,
            "metrics": [m.to_dict() for m in self.metrics],
            "reason": self.reason,
            "fleet_wide": self.fleet_wide,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Verdict:
        return cls(
            deployment_id=d["deployment_id"],
            service=d["service"],
            verdict=VerdictResult(d["verdict"]),
            score=float(d["score"]),
            decided_at=d.get("decided_at"),
            metrics=tuple(MetricVerdict.from_dict(m) for m in d.get("metrics", [])),
            reason=d.get("reason", ""),
            version=d.get("version", ""),
            fleet_wide=bool(d.get("fleet_wide", False)),
        )


@dataclass(frozen=True, slots=True)
class Anomaly:
    """One metric of one service behaving unusually at ``ts``, as one detector saw it."""

    service: str
    metric: str
    ts: float
    value: float
    score: float
    detector: str
    baseline: float | None = None


@dataclass(frozen=True, slots=True)
class Incident:
    """A problem of one service: the anomalies it groups, the deploy it blames (or None) and how sure."""

    id: str
    service: str
    opened_at: float
    deployment_id: str | None
    confidence: float
    metrics: tuple[str, ...]
    status: IncidentStatus = IncidentStatus.OPEN
    severity: str = "warning"
    evidence: tuple[MetricVerdict, ...] = ()
    summary: str = ""
    updated_at: float | None = None
    resolved_at: float | None = None
    # The metrics around the deploy, thinned, for plots: (metric, times, values)
    series: tuple[tuple[str, tuple[float, ...], tuple[float, ...]], ...] = ()

    @staticmethod
    def stable_id(service: str, key: str) -> str:
        return "inc-" + hashlib.sha256(f"{service}\x00{key}".encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "service": self.service,
            "status": self.status.value,
            "severity": self.severity,
            "opened_at": self.opened_at,
            "updated_at": self.updated_at,
            "resolved_at": self.resolved_at,
            "deployment_id": self.deployment_id,
            "confidence": self.confidence,
            "metrics": list(self.metrics),
            "summary": self.summary,
            "evidence": [m.to_dict() for m in self.evidence],
            "series": {name: {"ts": list(ts), "values": list(vs)} for name, ts, vs in self.series},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Incident:
        return cls(
            id=d["id"],
            service=d["service"],
            opened_at=float(d["opened_at"]),
            deployment_id=d.get("deployment_id"),
            confidence=float(d["confidence"]),
            metrics=tuple(d.get("metrics", [])),
            status=IncidentStatus(d.get("status", "open")),
            severity=d.get("severity", "warning"),
            evidence=tuple(MetricVerdict.from_dict(m) for m in d.get("evidence", [])),
            summary=d.get("summary", ""),
            updated_at=d.get("updated_at"),
            resolved_at=d.get("resolved_at"),
            series=tuple((name, tuple(s["ts"]), tuple(s["values"])) for name, s in (d.get("series") or {}).items()),
        )


@dataclass(frozen=True, slots=True)
class Feedback:
    """A person's judgement of an incident or a verdict; false positives recalibrate detection."""

    target_kind: str  # "incident" | "deployment"
    target_id: str
    label: FeedbackLabel
    service: str
    metrics: tuple[str, ...] = ()
    note: str = ""
    ts: float = 0.0
    id: str = field(default="")
    # metric -> relative change it showed in the judged verdict or incident (the evidence labelled)
    changes: tuple[tuple[str, float], ...] = ()


@dataclass(slots=True)
class Effects:
    """What processing a batch of records produced: written to the store in one transaction."""

    deploys: list[DeployEvent] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    incidents: list[Incident] = field(default_factory=list)
    anomalies: list[Anomaly] = field(default_factory=list)
    changes: list[ChangeEvent] = field(default_factory=list)

    def extend(self, other: Effects) -> None:
        self.deploys.extend(other.deploys)
        self.verdicts.extend(other.verdicts)
        self.incidents.extend(other.incidents)
        self.anomalies.extend(other.anomalies)
        self.changes.extend(other.changes)

    def __bool__(self) -> bool:
        return bool(self.deploys or self.verdicts or self.incidents or self.anomalies or self.changes)

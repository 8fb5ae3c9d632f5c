"""Correlation: is a regression the deploy's doing, and which incident does it belong to?

- :class:`FleetCheck` asks the peers: when the same metric moved the same way in services that did
  not deploy, the cause is shared (a dependency, the network, traffic) and the deploy is not blamed.
- :class:`IncidentBook` turns failed verdicts and fleet-wide moves into incidents, one per problem,
  with stable ids (a replay rewrites the same rows), and resolves them when a rollback restores
  the service.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from aiops.model import (
    DeployEvent,
    Incident,
    IncidentStatus,
    MetricVerdict,
    Verdict,
    VerdictResult,
)

if TYPE_CHECKING:
    from aiops.engine import Engine

# Half of the peers moving is "the fleet", not a coincidence.
FLEET_SHARE = 0.5
PEER_ALPHA = 0.01
# Peers moving this much (median relative change) is a fleet-wide *incident*; less is a shared drift
# (traffic, time of day) that explains the deploy's change without being a problem of its own.
FLEET_INCIDENT_CHANGE = 0.2


@dataclass(frozen=True, slots=True)
class PeerComparison:
    """How the services that did not deploy moved over the same windows."""

    peers: int
    share_moved: float  # share of peers that moved significantly the same way
    median_change: float  # their median relative change

    def explains(self, change: float, need: float) -> bool:
        """True when the deploy's change is no larger than the fleet's, give or take ``need``."""
        return self.share_moved >= FLEET_SHARE and abs(change - self.median_change) < need

    @property
    def is_incident(self) -> bool:
        return self.share_moved >= FLEET_SHARE and abs(self.median_change) >= FLEET_INCIDENT_CHANGE


class FleetCheck:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def compare(
        self, service: str, metric: str, deploy_ts: float, at: float, seen: MetricVerdict
    ) -> PeerComparison | None:
        """Judge ``metric`` of every peer that did not deploy over the same windows; None if no peer."""
        engine = self._engine
        window_start = deploy_ts - engine.config.baseline_window
        peers = [
            p for p in engine.services_with(metric) if p != service and not engine.deployed_between(p, window_start, at)
        ]
        if not peers:
            return None
        moved = 0
        changes = []
        for peer in peers:
            mv = engine.judge.judge(engine.judge_input(peer, metric, deploy_ts, at, final=True))
            if mv.change is not None:
                changes.append(mv.change)
            if _moved_like(mv, seen):
                moved += 1
        median_change = float(np.median(changes)) if changes else 0.0
        return PeerComparison(len(peers), moved / len(peers), median_change)


def _moved_like(peer: MetricVerdict, seen: MetricVerdict) -> bool:
    if peer.p_value is None or peer.effect is None or seen.effect is None or peer.change is None:
        return False
    same_way = (peer.effect > 0) == (seen.effect > 0)
    return same_way and peer.p_value < PEER_ALPHA


class IncidentBook:
    """The engine's memory of the incidents it opened, to deduplicate and to resolve them."""

    def __init__(self) -> None:
        self._open: dict[str, Incident] = {}

    def deploy_incident(self, d: DeployEvent, verdict: Verdict) -> Incident:
        failed = tuple(m for m in verdict.metrics if m.verdict is VerdictResult.FAIL)
        onsets = [m.onset for m in failed if m.onset is not None]
        opened = min(onsets) if onsets else (verdict.decided_at or d.ts)
        # Evidence strength (the verdict score) times how soon after the deploy the trouble began:
        # a regression starting at the deploy is more surely its doing than one starting later.
        lag_min = max(0.0, opened - d.ts) / 60.0
        proximity = math.exp(-max(0.0, lag_min - 5.0) / 30.0)
        confidence = round(min(0.99, max(0.05, (1.0 - verdict.score / 100.0) * proximity + 0.35)), 3)
        incident = Incident(
            id=Incident.stable_id(d.service, d.id),
            service=d.service,
            opened_at=opened,
            deployment_id=d.id,
            confidence=confidence,
            metrics=tuple(m.metric for m in failed),
            severity="critical" if verdict.score <= 20 else "warning",
            evidence=failed,
            summary=f"deploy {d.version} of {d.service}: {verdict.reason}",
            updated_at=verdict.decided_at,
        )
        self._open[incident.id] = incident
        return incident

    def fleet_incident(
        self, d: DeployEvent, metrics: list[str], verdicts: list[MetricVerdict], at: float
    ) -> list[Incident]:
        key = f"fleet:{d.id}"
        incident_id = Incident.stable_id(d.service, key)
        if incident_id in self._open:
            return []
        evidence = tuple(m for m in verdicts if m.metric in metrics)
        onsets = [m.onset for m in evidence if m.onset is not None]
        incident = Incident(
            id=incident_id,
            service=d.service,
            opened_at=min(onsets) if onsets else at,
            deployment_id=None,
            confidence=0.5,
            metrics=tuple(metrics),
            severity="warning",
            evidence=evidence,
            summary=(
                f"{', '.join(metrics)} of {d.service} moved together with services that did not deploy: "
                f"a fleet-wide problem, not blamed on deploy {d.version}"
            ),
            updated_at=at,
        )
        self._open[incident.id] = incident
        return [incident]

    def resolve_by_rollback(self, rollback: DeployEvent, verdict: Verdict) -> list[Incident]:
        """A clean rollback resolves the open incidents its service's earlier deploys caused."""
        resolved = []
        at = verdict.decided_at or rollback.ts
        for inc_id, inc in list(self._open.items()):
            if inc.service == rollback.service and inc.deployment_id and inc.opened_at <= rollback.ts:
                done = replace(
                    inc,
                    status=IncidentStatus.RESOLVED,
                    resolved_at=at,
                    updated_at=at,
                    summary=inc.summary + f" | resolved by rollback {rollback.version} ({rollback.id})",
                )
                resolved.append(done)
                del self._open[inc_id]
        return resolved

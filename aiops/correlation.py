"""Correlation: is a regression the deploy's doing, and which incident does it belong to?

- :class:`FleetCheck` asks the peers: when the same metric moved the same way in services that did
  not deploy, the cause is shared (a dependency, the network, traffic) and the deploy is not blamed.
- :class:`IncidentBook` turns failed verdicts and fleet-wide moves into incidents, one per problem,
  with stable ids (a replay rewrites the same rows), and resolves them when a rollback restores
  the service.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

from aiops.detectors.base import JudgeInput
from aiops.detectors.robust import median
from aiops.direction import is_worse
from aiops.history import FleetHistory, MovingWindow
from aiops.model import (
    DeployEvent,
    Incident,
    IncidentStatus,
    MetricVerdict,
    Verdict,
    VerdictResult,
)

# Judges one peer's metric over a deploy's windows: (peer, metric, deploy time, look time).
PeerJudge = Callable[[str, str, float, float], MetricVerdict]

# Half of the peers moving is "the fleet", not a coincidence.
FLEET_SHARE = 0.5
PEER_ALPHA = 0.01
# Peers moving this much (median relative change, the worse way) is a fleet-wide *incident*; less is
# a shared drift (traffic, time of day) that the control adjustment takes out without alarm.
FLEET_INCIDENT_CHANGE = 0.2
MIN_CONTROL_PEERS = 2
# Deploys whose peer windows are kept between looks (see MovingWindow). The engine releases a
# deploy's windows once it is decided (or its incident's watch ends); this only bounds a leak.
MAX_DEPLOYS_WITH_WINDOWS = 4096


def _median_of(changes: list[float]) -> float | None:
    """The peers' median change; None with too few peers to say."""
    return median(changes) if len(changes) >= MIN_CONTROL_PEERS else None


class FleetCheck:
    """The services that did not deploy, as a control group for the one that did."""

    def __init__(self, history: FleetHistory, baseline_window: float, judge_peer: PeerJudge) -> None:
        self._history = history
        self._baseline_window = baseline_window
        self._judge_peer = judge_peer
        self._levels: dict[tuple[str, str, float], float | None] = {}
        # (service, deploy time) -> (peer, metric, trailing?) -> that peer window, sorted, as of the last look.
        self._windows: dict[tuple[str, float], dict[tuple[str, str, bool], MovingWindow]] = {}

    def peers(self, service: str, metric: str, deploy_ts: float, at: float) -> list[str]:
        history = self._history
        start = deploy_ts - self._baseline_window
        return [p for p in history.services_with(metric) if p != service and not history.deployed_between(p, start, at)]

    def control_change(
        self, service: str, metric: str, deploy_ts: float, at: float, since: float | None = None
    ) -> float | None:
        """Median relative change of ``metric`` in the peers over the same before/after windows
        (the after window from ``since`` when given)."""
        if since is None:
            return self.control_changes(service, metric, deploy_ts, at)[0]
        return self.control_changes(service, metric, deploy_ts, at, since, whole=False)[1]

    def control_changes(
        self, service: str, metric: str, deploy_ts: float, at: float, since: float | None = None, whole: bool = True
    ) -> tuple[float | None, float | None]:
        """:meth:`control_change` over the whole after window (with ``whole``) and from ``since``
        (when given) at once: a look asks for both, and the peers and their baselines are the same."""
        changes: list[float] = []
        recent: list[float] = []
        # (where the changes go, the after window's start, trailing): the whole window, the recent one.
        spans = [(changes, deploy_ts, False)] if whole else []
        if since is not None:
            spans.append((recent, since, True))
        for peer in self.peers(service, metric, deploy_ts, at):
            before = self._baseline_level(peer, metric, deploy_ts)
            if before is None:
                continue
            for out, start, trailing in spans:
                moving = self._moving(service, deploy_ts, peer, metric, trailing)
                level, n = self._history.median(peer, metric, start, at, moving=moving)
                if n >= 3:
                    out.append(level / before - 1.0)
        return _median_of(changes), _median_of(recent)

    def _moving(self, service: str, deploy_ts: float, peer: str, metric: str, trailing: bool) -> MovingWindow:
        windows = self._windows.get((service, deploy_ts))
        if windows is None:
            if len(self._windows) >= MAX_DEPLOYS_WITH_WINDOWS:
                for old in list(self._windows)[: MAX_DEPLOYS_WITH_WINDOWS // 2]:
                    del self._windows[old]
            windows = self._windows[(service, deploy_ts)] = {}
        window = windows.get((peer, metric, trailing))
        if window is None:
            window = windows[(peer, metric, trailing)] = MovingWindow()
        return window

    def release(self, d: DeployEvent) -> None:
        """Forget the peer windows kept for ``d``: no look at it will come again."""
        self._windows.pop((d.service, d.ts), None)

    def _baseline_level(self, peer: str, metric: str, deploy_ts: float) -> float | None:
        """Median of a peer's baseline before ``deploy_ts``: the same at every look, so kept."""
        key = (peer, metric, deploy_ts)
        if key not in self._levels:
            if len(self._levels) > 50_000:  # old deploys' entries; cheap to recompute if needed again
                self._levels.clear()
            median, n = self._history.median(peer, metric, deploy_ts - self._baseline_window, deploy_ts, before=True)
            level = median if n >= 5 else None
            self._levels[key] = level if level is not None and abs(level) > 1e-12 else None
        return self._levels[key]

    @staticmethod
    def fleet_change(data: JudgeInput) -> float | None:
        """The peers' median change, the worse way and by at least FLEET_INCIDENT_CHANGE, over the
        window or its last minutes (trouble that began late shows there first); None otherwise."""
        change = data.control_change
        if data.control_recent is not None and abs(data.control_recent) > abs(change or 0.0):
            change = data.control_recent
        if change is None or abs(change) < FLEET_INCIDENT_CHANGE or not is_worse(data.direction, change):
            return None
        return change

    def is_incident(self, service: str, data: JudgeInput) -> bool:
        """The peers moved a lot, the worse way, and most of them significantly: a fleet-wide problem."""
        change = self.fleet_change(data)
        if change is None:
            return False
        at = float(data.current_ts[-1]) if len(data.current_ts) else data.deploy_ts
        peers = self.peers(service, data.metric, data.deploy_ts, at)
        moved = 0
        for peer in peers:
            mv = self._judge_peer(peer, data.metric, data.deploy_ts, at)
            if mv.p_value is not None and mv.effect is not None and mv.p_value < PEER_ALPHA:
                moved += (mv.effect > 0) == (change > 0)
        return bool(peers) and moved / len(peers) >= FLEET_SHARE


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

    def is_open(self, incident_id: str) -> bool:
        return incident_id in self._open

    def resolve(self, incident_id: str, at: float, why: str) -> list[Incident]:
        inc = self._open.pop(incident_id, None)
        if inc is None:
            return []
        return [
            replace(
                inc,
                status=IncidentStatus.RESOLVED,
                resolved_at=at,
                updated_at=at,
                summary=f"{inc.summary} | resolved: {why}",
            )
        ]

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

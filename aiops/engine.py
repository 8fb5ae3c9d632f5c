"""The engine: records in, in event time; deploy verdicts, anomalies and incidents out.

Every deploy opens an *analysis*. The analysis is looked at on a fixed grid of checkpoints, from
the first whole minute after the deploy every ``step`` (whole minutes: the grid the peers' rollups
and the minute bins are on, :mod:`aiops.rollups`), until its window closes (on a whole minute) or
the service deploys again. A checkpoint ``c``
is evaluated once the watermark (the latest event time seen) has passed ``c + lateness``, and only
with samples stamped ``<= c``. Because the grid and the data of each look depend only on event
times, a deploy event that arrives late, after the samples around it, gets exactly the verdict it
would have got in order: its overdue checkpoints are simply evaluated at once.

The engine is handed its judges: one per metric, asked at every look, and optionally one per
service, asked at the final look over every metric together (:mod:`aiops.detectors.base`).
``aiops.pipeline.build_engine`` makes both from the settings, by name from the registry. What each
look is judged on (windows, earlier days, the peers' move, the counterfactual) is gathered by
:class:`aiops.evidence.Evidence`; the engine decides when to look and what the answers add up to.

>>> from aiops.model import MetricSample, DeployEvent
>>> from aiops.detectors.residual_judge import CounterfactualJudge
>>> engine = Engine(EngineConfig(baseline_window=600, analysis_window=300, step=60, lateness=0), CounterfactualJudge())
>>> samples = [MetricSample("api", "latency_ms", t, 100.0 + (t % 7) + (80 if t >= 600 else 0))
...            for t in range(0, 1200, 10)]
>>> effects = engine.process([DeployEvent.create("api", "v2", 600.0), *samples])
>>> [(v.verdict.value, v.decided_at) for v in effects.verdicts]
[('fail', 840.0)]
"""

from __future__ import annotations

import heapq
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np

from aiops.correlation import FleetCheck, IncidentBook
from aiops.detectors.base import JudgeInput, MetricJudge, ServiceJudge
from aiops.detectors.combine import combine
from aiops.direction import is_worse
from aiops.engine_config import DAY, EngineConfig
from aiops.evidence import Evidence
from aiops.history import FleetHistory
from aiops.model import (
    Anomaly,
    DeployEvent,
    DeployKind,
    Effects,
    MetricSample,
    MetricVerdict,
    Record,
    Verdict,
    VerdictResult,
)
from aiops.rollups import MINUTE, PeerMinutes, StagedRollups, grid_after, grid_ceil, minute_floor


@dataclass(frozen=True, slots=True)
class KnownDeploy:
    """A deploy the engine must know of without reporting it as new: read again after a handoff, or
    owned by another consumer process.

    ``analyse=False``: only its time counts (a service that deployed is no control for others; the
    next deploy cuts its service's open window short). ``analyse=True``: analysed as usual, but the
    looks at or before ``written_until`` emit nothing, because the previous owner stored their effects.
    """

    deploy: DeployEvent
    analyse: bool = False
    written_until: float = float("-inf")

    @property
    def ts(self) -> float:
        return self.deploy.ts


@dataclass(slots=True)
class _Analysis:
    deploy: DeployEvent
    end: float
    next_check: float
    cut_short: bool = False
    written_until: float = float("-inf")  # looks at or before this emit nothing (see KnownDeploy)


class Engine:
    """Stateful, single-threaded, deterministic. Feed it records; write what it returns."""

    def __init__(
        self,
        config: EngineConfig,
        judge: MetricJudge,
        service_judge: ServiceJudge | None = None,
        calibration: dict[tuple[str, str], float] | None = None,
    ) -> None:
        self.config = config
        self.judge = judge
        self.service_judge = service_judge
        # (service, metric) -> least relative change that fails it, learnt from feedback (aiops.calibration).
        self.calibration: dict[tuple[str, str], float] = dict(calibration or {})
        self.watermark = float("-inf")
        self.history = FleetHistory()
        # The fleet as its peers are read (aiops.rollups): every series' minutes, rolled up as the
        # looks' horizon passes them; the deploy times are the history's own.
        self.rollups = FleetHistory()
        self.rollups.deploy_times = self.history.deploy_times
        # Minutes of series other processes own, as their owners published them (a consumer with
        # the rollups transport; docs/kafka.md): they enter the rollups when the horizon passes.
        self.peer_minutes = StagedRollups()
        self._rolled_until = float("-inf")
        self._seen_deploys: set[str] = set()
        self._analyses: dict[str, _Analysis] = {}
        # (checkpoint, deployment id), earliest first.
        self._due: list[tuple[float, str]] = []
        self.horizon_limit: float | None = None
        # Every look at a checkpoint <= looked_until has been taken (and its effects returned).
        self.looked_until = float("-inf")
        # Incidents watched for recovery: id -> (deploy, failed metrics, watch until, written until); and when.
        self._watch: dict[str, tuple[DeployEvent, tuple[str, ...], float, float]] = {}
        self._recovery: list[tuple[float, str]] = []
        self._trimmed_at = float("-inf")
        self.incidents = IncidentBook()
        self._fleet = FleetCheck(self.rollups, self.config.baseline_window, self._judge_peer)
        # Interim looks of a judge that reads no peers' move ask it only whether a metric fails, and
        # without that move (_fails_nothing); the full look follows where one does.
        self._screen = not judge.reads_context
        self.evidence = Evidence(self.config, self.history, self._fleet, judge.recent_window, self.rollups)

    # --- ingest ----------------------------------------------------------------------------------

    def process(self, records: Iterable[Record | KnownDeploy | PeerMinutes]) -> Effects:
        """Apply records in the order given; returns the verdicts/incidents they made final.

        A look at checkpoint ``c`` is taken once the watermark has passed ``c + lateness``. A
        consumer reading several partitions sets :attr:`horizon_limit` to its low watermark (the
        least advanced partition that still has data) so that no look runs before every peer's
        data up to ``c`` is in, however the partitions interleave.
        """
        effects = Effects()
        lateness = self.config.lateness
        limit = float("inf") if self.horizon_limit is None else self.horizon_limit
        # Progress through *this* input: a look must not run ahead of records still to come in it
        # (a consumer's batch holds a partition it has read to the end, in event-time order).
        progress = float("-inf")
        next_look = self._next_look()
        series_of = self.history.series
        for record in records:
            kind = type(record)
            if kind is MetricSample:
                # The hot path (nearly every record): an append to a known series, inlined.
                sample: MetricSample = record  # type: ignore[assignment]
                ts = sample.ts
                series = series_of.get((sample.service, sample.metric))
                if series is None:
                    self._add_sample(sample)
                else:
                    series.add(ts, sample.value)
                    if ts > self.watermark:
                        self.watermark = ts
            else:
                if kind is KnownDeploy:
                    known: KnownDeploy = record  # type: ignore[assignment]
                    self._add_deploy(known.deploy, effects, known.analyse, known.written_until)
                elif kind is PeerMinutes:
                    self._add_peer_minutes(record)  # type: ignore[arg-type]
                else:
                    self._add_deploy(record, effects)  # type: ignore[arg-type]
                ts = record.ts
                next_look = self._next_look()
            if ts > progress:
                progress = ts
            if next_look + lateness <= progress:
                horizon = min(progress, limit)
                if next_look + lateness <= horizon:
                    self._run_due(effects, horizon - lateness)
                    next_look = self._next_look()
        # Every look up to here is taken (the loop ran each one that came due within this input).
        looked = min(progress, limit) - lateness
        if looked > self.looked_until:
            self.looked_until = looked
        if self.watermark - self._trimmed_at > 3600:
            self._trim()
        return effects

    def _next_look(self) -> float:
        """Checkpoint of the next look: of an open analysis or of an incident watched for recovery."""
        due, recovery = self._due, self._recovery
        if due and recovery:
            return min(due[0][0], recovery[0][0])
        return due[0][0] if due else recovery[0][0] if recovery else float("inf")

    def advance(self) -> Effects:
        """Take the looks that became due without a new record (the horizon limit moved)."""
        effects = Effects()
        self._run_due(effects, self._horizon() - self.config.lateness)
        return effects

    def _horizon(self) -> float:
        """The event time every partition has reached: the watermark, or a consumer's low watermark when
        that is behind it (:attr:`horizon_limit`)."""
        return self.watermark if self.horizon_limit is None else min(self.watermark, self.horizon_limit)

    def finish(self) -> Effects:
        """End of input (a replay's last line): decide every open analysis with what is there."""
        effects = Effects()
        self._run_due(effects, self.watermark)
        self._roll_up(float("inf"))  # no more samples come: the last minute is as whole as it gets
        for dep_id in sorted(self._analyses):
            analysis = self._analyses[dep_id]
            self._evaluate(analysis, min(self.watermark, analysis.end), effects, stream_ended=True)
        self._analyses.clear()
        self._due.clear()
        return effects

    def _add_sample(self, s: MetricSample) -> None:
        self.history.add_sample(s.service, s.metric, s.ts, s.value)
        if s.ts > self.watermark:
            self.watermark = s.ts

    def _add_peer_minutes(self, peer: PeerMinutes) -> None:
        # A peer's samples, rolled up by their owner: held until the horizon passes their minutes,
        # and their time moves the watermark as the samples themselves would have.
        put = self.peer_minutes.put
        for minute in peer.minutes:
            put(minute)
        if peer.ts > self.watermark:
            self.watermark = peer.ts

    def _add_deploy(
        self, d: DeployEvent, effects: Effects, analyse: bool = True, written_until: float = float("-inf")
    ) -> None:
        if d.ts > self.watermark:
            self.watermark = d.ts
        if d.id in self._seen_deploys:
            return  # redelivered: already analysed or being analysed
        self._seen_deploys.add(d.id)
        if analyse and written_until == float("-inf"):
            effects.deploys.append(d)

        times = self.history.add_deploy(d.service, d.ts)
        # Looks fall on whole minutes (from the first after the deploy, every step), the grid the
        # peers' rollups and the minute bins are on (aiops.rollups): a look at c sees the peers'
        # minutes up to c, as it judges its own.
        end = grid_ceil(d.ts + self.analysis_span(d.service, d.ts), MINUTE)
        cut_short = False
        nxt = bisect_left(times, d.ts) + 1
        if nxt < len(times) and times[nxt] < end:
            end, cut_short = times[nxt], True
        # A newer release ends the analysis of an older one still open: what follows is not its doing.
        for other in self._analyses.values():
            if other.deploy.service == d.service and other.deploy.ts < d.ts < other.end:
                other.end, other.cut_short = d.ts, True
        if not analyse:
            return
        analysis = _Analysis(d, end, min(grid_after(d.ts, MINUTE), end), cut_short, written_until)
        self._analyses[d.id] = analysis
        heapq.heappush(self._due, (analysis.next_check, d.id))

    # --- analysis --------------------------------------------------------------------------------

    def open_since(self) -> float:
        """Earliest deploy time whose analysis or recovery watch is still open (else ``looked_until``).

        A consumer taking over a partition re-reads from this minus the baseline (and seasonal days)
        to rebuild every analysis still open here; deploys before it were decided and stored.
        """
        since = self.looked_until
        for analysis in self._analyses.values():
            since = min(since, analysis.deploy.ts)
        for d, _, _, _ in self._watch.values():
            since = min(since, d.ts)
        return since

    @property
    def lookback(self) -> float:
        """How far before a deploy its analysis reads: the history and the same time on earlier days."""
        return self.config.lookback_window + self.config.seasonal_days * DAY

    def analysis_span(self, service: str, deploy_ts: float) -> float:
        """How long a deploy's analysis runs: the configured window, stretched for slowly sampled metrics."""
        span = self.config.analysis_window
        for metric in self.history.metrics_of.get(service, ()):
            width = self.evidence.width(service, metric, deploy_ts)
            span = max(span, self.config.windows(width)[1] * width)
        return span

    def _roll_up(self, horizon: float) -> None:
        """Roll up every minute that ends at or before ``horizon`` (:mod:`aiops.rollups`): the looks up
        to ``horizon`` are due, and their peers are read from these."""
        end = minute_floor(horizon)
        if end > self._rolled_until:
            self.history.roll_up(self.rollups, self._rolled_until, end)
            self.peer_minutes.flush(self.rollups, end)
            self._rolled_until = end

    def _run_due(self, effects: Effects, horizon: float) -> None:
        if horizon > self.looked_until:
            self.looked_until = horizon
        self._roll_up(horizon)
        self._run_recovery(effects, horizon)
        due = self._due
        while due and due[0][0] <= horizon:
            check, dep_id = heapq.heappop(due)
            analysis = self._analyses.get(dep_id)
            if analysis is None or check != analysis.next_check:
                continue  # decided already, or rescheduled
            at = min(check, analysis.end)
            if self._evaluate(analysis, at, effects):
                del self._analyses[dep_id]
                continue
            analysis.next_check = min(at + self.config.step, analysis.end)
            if analysis.next_check <= at:  # window closed at exactly this look
                analysis.next_check = analysis.end
            heapq.heappush(due, (analysis.next_check, dep_id))

    def _run_recovery(self, effects: Effects, horizon: float) -> None:
        """Resolve deploy-blamed incidents whose metrics came back (checked every recovery_step, event time)."""
        heap = self._recovery
        while heap and heap[0][0] <= horizon:
            at, incident_id = heapq.heappop(heap)
            watch = self._watch.get(incident_id)
            if watch is None or not self.incidents.is_open(incident_id):
                if watch is not None:  # resolved otherwise (a rollback): the watch ends here
                    del self._watch[incident_id]
                    self.release(watch[0])
                continue
            d, metrics, until, written_until = watch
            if self._recovered(d, metrics, at):
                resolved = self.incidents.resolve(incident_id, at, "metrics back to their baseline")
                if at > written_until:
                    effects.incidents.extend(resolved)
            elif at + self.config.recovery_step <= until:
                heapq.heappush(heap, (at + self.config.recovery_step, incident_id))
                continue
            del self._watch[incident_id]
            self.release(d)

    def _recovered(self, d: DeployEvent, metrics: Iterable[str], at: float) -> bool:
        """Every failed metric, over the last recent window, is no longer worse than before the deploy."""
        since = at - self.judge.recent_window
        for metric in metrics:
            if (d.service, metric) not in self.history.series:
                return False
            data = self.judge_input(d.service, metric, d.ts, at, final=True, control=self.config.fleet_check)
            keep = data.current_ts >= since
            if keep.sum() < 5:
                return False
            recent = replace(
                data,
                current_ts=data.current_ts[keep],
                current=data.current[keep],
                control_change=data.control_recent if data.control_recent is not None else data.control_change,
                control_recent=None,
            )
            mv = self.judge.judge(recent)
            if mv.verdict is not VerdictResult.PASS or (
                mv.p_value is not None and mv.p_value < 0.01 and is_worse(data.direction, mv.change or 0.0)
            ):
                return False
        return True

    def _evaluate(self, analysis: _Analysis, at: float, effects: Effects, stream_ended: bool = False) -> bool:
        """One look at an analysis at checkpoint ``at``; True when its verdict became final."""
        d = analysis.deploy
        if at <= analysis.written_until:
            effects = Effects()  # state only: this look's effects were stored by the previous owner
        final = at >= analysis.end or stream_ended
        if not final and self._screen and self._fails_nothing(d, at):
            return False  # pending, as the full look would say
        verdicts: list[MetricVerdict] = []
        fleet: list[str] = []
        inputs = []
        for metric in sorted(self.history.metrics_of.get(d.service, ())):
            data = self.judge_input(d.service, metric, d.ts, at, final, control=self.config.fleet_check)
            inputs.append(data)
            mv = self.judge.judge(data)
            if self._fleet.is_incident(d.service, data):
                fleet.append(metric)
                if mv.verdict is VerdictResult.FAIL:
                    mv = self._beyond_the_fleet(d, metric, data, at)
            elif mv.verdict is VerdictResult.FAIL and self._peers_moved_too(d, data, mv, at):
                if not final:
                    # The services that did not deploy moved the same way by at least half as much:
                    # maybe the start of a fleet-wide problem. Wait for the final look, where the
                    # fleet check can tell (a slower fail, never a deploy blamed for the fleet's trouble).
                    mv = replace(
                        mv,
                        verdict=VerdictResult.INCONCLUSIVE,
                        reason=f"{mv.reason}; services that did not deploy moved too "
                        f"({data.control_change:+.0%}): waiting for the window to close",
                    )
                elif self._fleet.fleet_change(data) is not None:
                    # The window closed with the peers moved as much as an incident (20 %+ the worse
                    # way), yet not most of them significantly: trouble that began in the last minutes
                    # has moved the medians of some series and not yet of others (a coin toss at half
                    # the window). The deploy is judged on what moved beyond the peers, as in an incident.
                    mv = self._beyond_the_fleet(d, metric, data, at)
            verdicts.append(mv)
        # The service judge's joint view is costly (the isolation forest fits a forest per look): only
        # at the final look, only when no single metric has already failed the deploy, and only when
        # two moved the worse way with p < 0.05 (the judges' p-values are one-sided and hold under
        # autocorrelation): a joint regression shows at least weakly in more than one metric; one
        # metric alone is its own judge's call.
        hint = sum(m.p_value is not None and m.p_value < 0.05 for m in verdicts) >= 2
        if (
            final
            and hint
            and self.service_judge is not None
            and not any(m.verdict is VerdictResult.FAIL for m in verdicts)
        ):
            verdicts.append(self.service_judge.judge_service(inputs))
        note = ""
        if stream_ended and at < analysis.end:
            note = f" (input ended {(at - d.ts) / 60:.0f} of {(analysis.end - d.ts) / 60:.0f} min into the window)"
        elif analysis.cut_short and final:
            note = " (window cut short by the next deploy)"
        verdict = combine(
            d.id,
            d.service,
            verdicts,
            decided_at=at,
            final=final,
            version=d.version,
            fleet_metrics=fleet,
            cut_short=note,
        )
        if stream_ended and verdict.verdict is VerdictResult.PASS and at < analysis.end:
            verdict = replace(
                verdict, verdict=VerdictResult.INCONCLUSIVE, score=50.0, reason="analysis window not complete" + note
            )
        if fleet and (verdict.verdict is not VerdictResult.PENDING or final):
            effects.incidents.extend(
                replace(i, series=self.evidence.series_around(d, i.metrics, at))
                for i in self.incidents.fleet_incident(d, fleet, verdicts, at)
            )
        if verdict.verdict is VerdictResult.PENDING:
            return False
        self._decided(d, verdict, effects, analysis.written_until)
        return True

    def _fails_nothing(self, d: DeployEvent, at: float) -> bool:
        """At an interim look: does no metric fail on its own? Then the deploy's verdict is pending
        whatever the services that did not deploy did: their move and the fleet check only change a
        metric that fails, and fleet incidents go out with a verdict or at the final look. So a look
        asks the judge only whether each metric fails (``MetricJudge.fails``: the counterfactual
        judge then skips the placebo spread of a view that cannot fail) and gathers the peers' move,
        the dearest part of a look's evidence, only at a look where one does. Asked only of a judge
        whose verdict does not read that move (``reads_context``), so the answer is the full look's."""
        control = self.config.fleet_check
        for metric in sorted(self.history.metrics_of.get(d.service, ())):
            if self.judge.fails(self.judge_input(d.service, metric, d.ts, at, False, control=control, context=False)):
                return False
        return True

    def _beyond_the_fleet(self, d: DeployEvent, metric: str, data: JudgeInput, at: float) -> MetricVerdict:
        """The metric judged on what moved beyond the peers' median change (over the window, and over
        its last minutes for the recent view), against the service's own history: peers that
        tracked this service were hit too, so they cannot be its counterfactual."""
        own = self.evidence.fit(d.service, metric, d.ts, at, peers=False)
        return self.judge.judge(replace(data, counterfactual=own, peer_post=None, net_of_control=True))

    def _peers_moved_too(self, d: DeployEvent, data: JudgeInput, mv: MetricVerdict, at: float) -> bool:
        """Did the services that did not deploy move the same way by at least half as much, over the
        window or its last few minutes (trouble that began after the deploy shows there first)?"""
        change = mv.change
        if change is None or not self.config.fleet_check:
            return False
        width = data.counterfactual.width if data.counterfactual is not None else 60.0
        lately = self._fleet.control_change(d.service, data.metric, d.ts, at, since=at - 3 * width)
        for control in (data.control_change, lately):
            if control is not None and control * change > 0 and abs(control) >= 0.5 * abs(change):
                return True
        return False

    def _decided(self, d: DeployEvent, verdict: Verdict, effects: Effects, written_until: float) -> None:
        effects.verdicts.append(verdict)
        if verdict.verdict is VerdictResult.FAIL:
            failed = [m for m in verdict.metrics if m.verdict is VerdictResult.FAIL]
            effects.anomalies.extend(
                Anomaly(
                    d.service,
                    m.metric,
                    m.onset if m.onset is not None else d.ts,
                    m.current or 0.0,
                    1.0 - (m.p_value or 0.0),
                    self.judge.name,
                    m.baseline,
                )
                for m in failed
            )
            incident = self.incidents.deploy_incident(d, verdict)
            effects.incidents.append(
                replace(incident, series=self.evidence.series_around(d, incident.metrics, verdict.decided_at))
            )
            decided = verdict.decided_at if verdict.decided_at is not None else d.ts
            self._watch[incident.id] = (d, incident.metrics, decided + self.config.recovery_horizon, written_until)
            heapq.heappush(self._recovery, (decided + self.config.recovery_step, incident.id))
            return  # its peer windows serve the recovery watch; released when that ends
        if d.kind is DeployKind.ROLLBACK and verdict.verdict is VerdictResult.PASS:
            effects.incidents.extend(self.incidents.resolve_by_rollback(d, verdict))
        self.release(d)

    def judge_input(
        self,
        service: str,
        metric: str,
        deploy_ts: float,
        at: float,
        final: bool,
        control: bool = False,
        context: bool = True,
    ) -> JudgeInput:
        """What the judge sees for one metric (:meth:`Evidence.judge_input`), with the bar feedback taught."""
        min_change = self.calibration.get((service, metric))
        return self.evidence.judge_input(service, metric, deploy_ts, at, final, control, min_change, context=context)

    def release(self, d: DeployEvent) -> None:
        """Forget what was kept for a deploy's looks: none will come again."""
        self._fleet.release(d)
        self.evidence.release(d)

    def _judge_peer(self, peer: str, metric: str, deploy_ts: float, at: float) -> MetricVerdict:
        """A peer's own verdict over a deploy's windows, against its own rolled-up history (for the fleet check)."""
        min_change = self.calibration.get((peer, metric))
        data = self.evidence.judge_input(peer, metric, deploy_ts, at, True, False, min_change, of_peer=True)
        return self.judge.judge(data)

    def _trim(self) -> None:
        # Every minute about to be compacted or trimmed is rolled up first, from its raw samples,
        # however long no look has come due (a replay and a consumer trim at other moments).
        self._roll_up(self._horizon() - self.config.lateness)
        horizon = self.watermark - self.config.retention
        oldest_open = min((a.deploy.ts for a in self._analyses.values()), default=self.watermark)
        horizon = min(horizon, oldest_open - self.lookback)
        self.history.trim(horizon)
        # Looks read raw samples only over the look-back of an open analysis or a watched incident
        # (and of a deploy still to come, late by up to the lateness); before that, only earlier
        # days are read, in bins of a minute or more: one sample per minute holds what they need.
        oldest_watched = min((d.ts for d, _, _, _ in self._watch.values()), default=self.watermark)
        self._trim_deploy_times(horizon, oldest_watched)
        # A consumer reading several partitions can be hours ahead on one (the watermark) while a
        # deploy still to come waits on another: no later than its low watermark, a deploy's
        # look-back is still raw when the deploy arrives, as in a replay.
        raw_until = min(self._horizon(), oldest_open, oldest_watched) - self.config.raw_window
        self.history.compact(raw_until)
        # The rollups are read over the look-back alone (never as earlier days: aiops.evidence),
        # so they are kept as long as raw samples are.
        self.rollups.trim(raw_until)
        self.evidence.forget_widths(self.history.series, self.rollups.series)
        self._trimmed_at = self.watermark

    def _trim_deploy_times(self, horizon: float, oldest_watched: float) -> None:
        """Forget deploy times no look can read again. A look reads a service's deploys back to its
        own deploy's look-back (placebo windows and earlier days must not straddle one; a peer
        deployed within its baseline is no control), so anything before the history's horizon
        (itself no later than the oldest open analysis's look-back) and before a watched
        incident's look-back (a recovery check may fit its deploy again) is never read. Kept from
        the least advanced partition's point of view too, like the compaction below: a deploy
        still to come on a partition behind the watermark reads its own look-back."""
        self.history.trim_deploys(min(horizon, oldest_watched - self.lookback, self._horizon() - self.config.retention))

    def series_values(self, service: str, metric: str) -> np.ndarray:
        series = self.history.series.get((service, metric))
        return np.array(series.values if series else [], dtype=np.float64)

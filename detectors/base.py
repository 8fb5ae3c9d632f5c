"""The small protocols every detector implements. Pure code: no I/O, no clocks, no stores.

- A :class:`StreamingDetector` learns a series one point (or one batch) at a time and scores how
  unusual each point is, 0 (ordinary) .. 1 (surely anomalous), using only the past.
- A :class:`MetricJudge` decides whether one metric got worse after a deploy, from the baseline
  before it and what came after, with the evidence a person needs.
- A :class:`ServiceJudge` decides whether a service got worse as a whole, from every metric's
  :class:`JudgeInput` of one look together (a regression a little worse in several metrics, clear
  in none). The engine asks it at the final look only, beside the metric judge.

Judges are chosen by name from :mod:`aiops.detectors.registry`; the engine is handed them.

>>> from aiops.detectors.registry import make_judge, make_service_judge
>>> isinstance(make_judge("kayenta"), MetricJudge), isinstance(make_service_judge("isolation_forest"), ServiceJudge)
(True, True)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from aiops.detectors.counterfactual import CounterfactualFit
from aiops.detectors.robust import FloatArray
from aiops.model import Direction, MetricVerdict

__all__ = ["DetectorParams", "FloatArray", "JudgeInput", "MetricJudge", "ServiceJudge", "StreamingDetector"]


@runtime_checkable
class StreamingDetector(Protocol):
    name: str

    def learn_one(self, x: float) -> None: ...

    def score_one(self, x: float) -> float:
        """How unusual ``x`` is given what was learnt so far; 0.5 or less during warm-up."""

    def score_many(self, xs: FloatArray) -> FloatArray:
        """Score then learn each point in turn; equal to calling score_one/learn_one in a loop."""


@dataclass(frozen=True, slots=True)
class JudgeInput:
    """Everything a judge may look at for one metric of one deploy; windows are event time."""

    metric: str
    direction: Direction
    deploy_ts: float
    baseline_ts: FloatArray  # samples in [deploy_ts - baseline_window, deploy_ts)
    baseline: FloatArray
    current_ts: FloatArray  # samples in [deploy_ts, now]
    current: FloatArray
    # The same time window on earlier days, when the history reaches that far: used to tell a daily
    # cycle from a regression. Each entry is (baseline-like values, current-like values).
    seasonal: tuple[tuple[FloatArray, FloatArray], ...] = ()
    # Median relative change of this metric over the same windows in services that did not deploy
    # (None: no such peers). What the deploy did is what moved beyond it.
    control_change: float | None = None
    control_recent: float | None = None  # the same, for the recent part of the window only
    final: bool = False  # the analysis window has closed: last look, no early-stopping penalty
    # The least relative change that fails this metric when feedback raised it above the default
    # (aiops.calibration): false positives teach what this service's metric does after every deploy.
    min_change: float | None = None
    # What the metric would have done without the deploy (aiops.detectors.counterfactual), fitted on
    # the hours before it, and this look's bins of the peers that counterfactual regresses on.
    counterfactual: CounterfactualFit | None = None
    peer_post: Mapping[str, FloatArray] | None = None
    at: float | None = None  # the look's checkpoint: only bins complete by then are judged
    # How many metrics of this service are judged at this look: the deploy's false-fail budget
    # (alpha) is shared between them, so a service with 50 metrics is not 50 times likelier to fail.
    family_size: int = 1
    # A fleet-wide move is under way: judge what moved beyond the peers' median change.
    net_of_control: bool = False


@runtime_checkable
class MetricJudge(Protocol):
    name: str

    @property
    def recent_window(self) -> float:
        """Seconds at the end of the window the judge also judges on their own (a slow leak shows
        there first). The engine gives it the peers' move over the same span
        (``JudgeInput.control_recent``) and watches a failed deploy's recovery over it."""

    @property
    def reads_context(self) -> bool:
        """Whether the verdict reads the peers' move (``control_change``, ``control_recent``) or the
        earlier days (``seasonal``) of its input even when ``net_of_control`` is off. A judge that
        does not lets the engine skip gathering them at interim looks where no metric fails (they
        are what the fleet check reads, and it matters only to a look that fails something)."""

    def judge(self, data: JudgeInput) -> MetricVerdict:
        """One metric of one deploy at one look: pass, fail, pending or inconclusive, and why."""

    def fails(self, data: JudgeInput) -> bool:
        """``judge(data).verdict is FAIL``, as cheaply as the judge can tell: the engine asks this at
        interim looks, where nothing else of the verdict is used unless some metric fails."""


@runtime_checkable
class ServiceJudge(Protocol):
    name: str

    def judge_service(self, inputs: Sequence[JudgeInput]) -> MetricVerdict:
        """Every metric of one service at one look, together: one verdict for the service, named
        after the judge in ``metric``; inconclusive when too few metrics or too little history."""


@dataclass(slots=True)
class DetectorParams:
    """Shared knobs of the judges, with the reasons for their defaults."""

    # A handful of points is enough for a rank test to separate two clearly different groups.
    min_baseline: int = 10
    min_current: int = 5
    # Sequential looks inflate false alarms; an interim look must clear a much stricter bar than the
    # final one (a Pocock-like constant boundary is simple and holds up for ~30 looks).
    alpha_interim: float = 1e-4
    alpha_final: float = 1e-3
    # Below these the change is not worth failing a release for, however significant.
    min_relative_change: float = 0.05
    min_effect_sigmas: float = 0.5
    # A slow leak shows in the recent part of the window first: also judge the last 10 minutes.
    recent_window: float = 600.0
    # The counterfactual judge counts bins (one minute, or one sample for slower metrics).
    min_current_bins: int = 3
    min_baseline_bins: int = 6

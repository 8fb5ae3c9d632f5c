"""The before/after judge: did this metric get worse after the deploy?

For one metric it compares the samples after a deploy with the baseline before it:

1. If earlier days are in the history, each value is first expressed against the same time on those
   days (the median seasonal profile), so a daily ramp is not taken for a regression.
2. A one-sided Mann-Whitney U test in the metric's "worse" direction (latency up, throughput down).
3. The Hodges-Lehmann shift, as a relative change of the baseline level and in robust sigmas.
4. Fail only when the test is significant *and* the effect is large enough to matter. Interim looks
   use a stricter alpha than the final look (sequential testing), so strong evidence fails within
   minutes while a pass waits for the window to close.

>>> import numpy as np
>>> from aiops.model import Direction
>>> from aiops.detectors.base import JudgeInput
>>> rng = np.random.default_rng(7)
>>> before, after = rng.normal(100, 5, 60), rng.normal(130, 5, 10)
>>> data = JudgeInput("latency_ms", Direction.UP_IS_WORSE, 0.0, np.arange(60.0) - 60, before,
...                   np.arange(10.0), after)
>>> BeforeAfterJudge().judge(data).verdict.value
'fail'
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from aiops.detectors.base import DetectorParams, FloatArray, JudgeInput
from aiops.detectors.robust import center_scale, median
from aiops.detectors.stats import hodges_lehmann, mann_whitney_p
from aiops.direction import alternative, is_worse, worse_side
from aiops.model import MetricVerdict, VerdictResult


def flat_baseline_floor(center: float, values: FloatArray) -> float:
    """A flat baseline (MAD 0) still has a scale: 1 % of its level, or half its standard deviation,
    so a shift is never divided by zero and a lone step off a constant is not infinitely many sigma.

    >>> flat_baseline_floor(200.0, np.full(30, 200.0))
    2.0
    """
    return max(0.01 * abs(center), float(np.std(values)) * 0.5, 1e-9)


@dataclass(slots=True)
class BeforeAfterJudge:
    """Robust, direction-aware, sequential before/after comparison of one metric."""

    params: DetectorParams = field(default_factory=DetectorParams)
    name: str = "before_after"

    @property
    def recent_window(self) -> float:
        return self.params.recent_window

    @property
    def reads_context(self) -> bool:
        return True  # net of the peers' median move, or of the earlier days without peers

    def fails(self, data: JudgeInput) -> bool:
        return self.judge(data).verdict is VerdictResult.FAIL

    def judge(self, data: JudgeInput) -> MetricVerdict:
        p = self.params
        base, cur = data.baseline, data.current
        common = {"metric": data.metric, "direction": data.direction, "baseline_n": len(base), "current_n": len(cur)}
        if len(base) < p.min_baseline or len(cur) < p.min_current:
            return MetricVerdict(
                verdict=VerdictResult.INCONCLUSIVE,
                reason=f"too little data: {len(base)} baseline (need {p.min_baseline}), "
                f"{len(cur)} after deploy (need {p.min_current})",
                **common,  # type: ignore[arg-type]
            )
        level, _ = center_scale(base)
        base_adj, cur_adj, context = _expected_drift_removed(base, cur, data, data.control_change)
        _, scale = center_scale(base_adj, floor=flat_baseline_floor)
        alpha = p.alpha_final if data.final else p.alpha_interim
        # Two views of "after": all of it (power for steps) and its recent part (a slow leak only
        # shows late); each gets half the alpha so looking twice does not double false alarms.
        views = [("", cur_adj, data.current_ts)]
        recent_from = data.current_ts[-1] - p.recent_window if len(data.current_ts) else 0.0
        if len(cur_adj) and data.current_ts[0] < recent_from - p.recent_window / 2:
            keep = data.current_ts >= recent_from
            if keep.sum() >= p.min_current:
                # The control moves differently over the recent part (a fleet problem that began late).
                _, recent_adj, _ = _expected_drift_removed(base, cur[keep], data, data.control_recent)
                views.append((f" (last {round(p.recent_window / 60)} min)", recent_adj, data.current_ts[keep]))
        outcome = None
        for label, values, _ts in views:
            o = self._test(base_adj, values, level, scale, alpha / len(views), data)
            if outcome is None or (o.failed and not outcome.failed) or (o.failed == outcome.failed and o.p < outcome.p):
                outcome = o
                outcome.label = label
        assert outcome is not None
        current_level = median(cur)
        if outcome.failed:
            verdict = VerdictResult.FAIL
            reason = (
                f"{data.metric} {'rose' if outcome.shift > 0 else 'fell'} {abs(outcome.change):.0%}{outcome.label} "
                f"({outcome.effect:+.1f} sigma, p={outcome.p:.1e}) after the deploy{context}"
            )
        else:
            verdict = VerdictResult.PASS
            if not outcome.worse:
                reason = f"{data.metric} did not get worse ({outcome.change:+.1%}){context}"
            elif not outcome.big_enough:
                reason = (
                    f"{data.metric} changed {outcome.change:+.1%} ({outcome.effect:+.1f} sigma): "
                    f"below the bar to fail{context}"
                )
            else:
                reason = f"{data.metric} changed {outcome.change:+.1%} but p={outcome.p:.1e} is not significant"
        return MetricVerdict(
            verdict=verdict,
            baseline=level,
            current=current_level,
            change=float(outcome.change) if np.isfinite(outcome.change) else None,
            p_value=outcome.p,
            effect=float(outcome.effect),
            onset=onset(data) if verdict is VerdictResult.FAIL else None,
            reason=reason,
            **common,  # type: ignore[arg-type]
        )

    def _test(
        self, base: FloatArray, cur: FloatArray, level: float, scale: float, alpha: float, data: JudgeInput
    ) -> _Outcome:
        p = self.params
        p_value = mann_whitney_p(cur, base, alternative(data.direction))
        shift = hodges_lehmann(cur, base)
        change = shift / abs(level) if abs(level) > 1e-12 else (np.inf if shift else 0.0)
        effect = shift / scale
        # Feedback can raise the bar for one service's metric (never lower it below the default).
        need_change = max(p.min_relative_change, data.min_change or 0.0)
        need_effect = p.min_effect_sigmas
        worse = is_worse(data.direction, shift)
        big_enough = abs(change) >= need_change and abs(effect) >= need_effect
        return _Outcome(p_value, shift, float(change), float(effect), worse, big_enough, alpha)


@dataclass(slots=True)
class _Outcome:
    p: float
    shift: float
    change: float
    effect: float
    worse: bool
    big_enough: bool
    alpha: float
    label: str = ""

    @property
    def failed(self) -> bool:
        return self.worse and self.big_enough and self.p < self.alpha


def _expected_drift_removed(
    base: FloatArray, cur: FloatArray, data: JudgeInput, control: float | None
) -> tuple[FloatArray, FloatArray, str]:
    """Take out what would have happened anyway: the control group's move, or else the daily one.

    The control is the median relative change of the same metric in services that did not deploy,
    over the same windows (a shared daily cycle, a traffic surge, a fleet-wide incident). Without
    peers, the typical rise of the same window on earlier days is used.
    """
    if control is not None:
        factor = 1.0 + control
        if factor > 0:
            return base, cur / factor, f" (net of {control:+.0%} in services that did not deploy)"
    base_adj, cur_adj = _deseasonalise(base, cur, data.seasonal)
    return base_adj, cur_adj, ""


def _deseasonalise(
    base: FloatArray, cur: FloatArray, seasonal: tuple[tuple[FloatArray, FloatArray], ...]
) -> tuple[FloatArray, FloatArray]:
    """Subtract how the same window moved on earlier days (median over days), when there are any.

    A daily cycle rises between the baseline and the current window every day; removing the
    typical rise of earlier days leaves only what is new today.
    """
    usable = [(b, c) for b, c in seasonal if len(b) >= 3 and len(c) >= 3]
    if not usable:
        return base, cur
    typical_rise = median([median(c) - median(b) for b, c in usable])
    return base, cur - typical_rise


def onset(data: JudgeInput) -> float | None:
    """The first post-deploy time from which the metric stays on the worse side of the baseline."""
    if len(data.current) == 0:
        return None
    level = median(data.baseline)
    # For a metric that gets worse either way, the worse side is the one it moved to.
    side = worse_side(data.direction, median(data.current) - level)
    worse = (data.current - level) * side > 0
    # Walk back from the end while the samples stay worse: the start of that run is the onset.
    idx = len(worse)
    while idx > 0 and worse[idx - 1]:
        idx -= 1
    idx = min(idx, len(worse) - 1)
    return float(data.current_ts[idx])

"""The counterfactual judge: did this metric get worse than it would have without the deploy?

For one metric at one look it takes the post-deploy bins, subtracts what the counterfactual
(:mod:`aiops.detectors.counterfactual`: the baseline level, the same time on earlier days, or
peers that track the service) expected, and compares the mean miss after the deploy with the mean
miss before it. The yardstick is how far that difference strays at earlier times with no deploy
(the placebo spread), never less than what the residuals' autocorrelation implies nor than how
far the same window strayed on earlier days at this time of day, so the p-value holds for
autocorrelated metrics where a rank test on raw samples is far too confident.

A metric fails when the miss is the worse way, significant (a stricter alpha at interim looks than
at the final one: sequential testing; the deploy's alpha shared between the service's metrics), at
least the minimum relative change, and larger than every placebo move of the history. Like the
before/after judge it also looks at the last 10 minutes alone, for slow leaks.

>>> import numpy as np
>>> from aiops.detectors.base import JudgeInput
>>> from aiops.detectors.counterfactual import fit_counterfactual
>>> from aiops.model import Direction
>>> rng = np.random.default_rng(3)
>>> hist_ts = np.arange(-6 * 3600.0, 0.0, 30.0)
>>> fit = fit_counterfactual(hist_ts, rng.normal(100, 3, hist_ts.size), {}, deploy_ts=0.0, width=60.0,
...                          baseline_bins=60, history_bins=360, post_bins=30)
>>> cur_ts = np.arange(0.0, 600.0, 30.0)
>>> data = JudgeInput("latency_ms", Direction.UP_IS_WORSE, 0.0, hist_ts[-120:], np.zeros(120), cur_ts,
...                   rng.normal(125, 3, cur_ts.size), counterfactual=fit, at=600.0)
>>> verdict = CounterfactualJudge().judge(data)
>>> verdict.verdict.value, verdict.reason.split(" (z=")[0]
('fail', 'latency_ms rose to 125 (+24%) where 100 was expected from its baseline level')
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from aiops.detectors.base import DetectorParams, FloatArray, JudgeInput
from aiops.detectors.counterfactual import CounterfactualFit, bin_means
from aiops.detectors.judge import onset
from aiops.detectors.robust import median
from aiops.direction import is_worse, sides, toward_worse
from aiops.model import Direction, MetricVerdict, VerdictResult


def _p_value(z: float, direction: Direction) -> float:
    """One-sided (the worse way) normal tail of ``z``; two-sided when both ways are worse. Floored at
    1e-300: beyond that a double says 0, and "p=0" claims more than any model can."""
    p = sides(direction) * 0.5 * math.erfc(toward_worse(direction, z) / math.sqrt(2))
    return max(p, 1e-300)


@dataclass(slots=True)
class _View:
    label: str
    effect: float  # median miss after minus median miss before, in the metric's units
    spread: float
    expected: float  # the counterfactual's mean over the view's bins
    observed: float
    bins: int
    largest: float  # the largest move of the same window at earlier times with no deploy

    @property
    def z(self) -> float:
        return self.effect / self.spread

    @property
    def change(self) -> float:
        return self.effect / abs(self.expected) if abs(self.expected) > 1e-12 else (math.inf if self.effect else 0.0)


def _fmt(x: float) -> str:
    return f"{x:.3g}"


@dataclass(slots=True)
class CounterfactualJudge:
    """Direction-aware, sequential, autocorrelation-honest comparison with what was expected."""

    params: DetectorParams = field(default_factory=DetectorParams)
    name: str = "counterfactual"

    @property
    def recent_window(self) -> float:
        return self.params.recent_window

    @property
    def reads_context(self) -> bool:
        return False  # the counterfactual holds the peers and the earlier days it reads

    def judge(self, data: JudgeInput) -> MetricVerdict:
        p = self.params
        fit = data.counterfactual
        common = {"metric": data.metric, "direction": data.direction, "current_n": len(data.current)}
        if fit is None:
            return MetricVerdict(
                verdict=VerdictResult.INCONCLUSIVE,
                reason="no history before the deploy to say what was expected",
                baseline_n=0,
                **common,  # type: ignore[arg-type]
            )
        common["baseline_n"] = fit.baseline_filled
        at = data.at if data.at is not None else (float(data.current_ts[-1]) + 1e-9 if len(data.current_ts) else 0.0)
        m = fit.post_bins(at)
        observed = bin_means(data.current_ts, data.current, fit.deploy_ts, fit.width, 0, m)
        have = int(np.isfinite(observed).sum())
        if fit.baseline_filled < p.min_baseline_bins or have < p.min_current_bins:
            return MetricVerdict(
                verdict=VerdictResult.INCONCLUSIVE,
                reason=(
                    f"too little data: {fit.baseline_filled} baseline bin(s) of {fit.width:.0f} s "
                    f"(need {p.min_baseline_bins}), {have} after the deploy (need {p.min_current_bins})"
                ),
                **common,  # type: ignore[arg-type]
            )
        net = ""
        values = data.current
        recent_factor = 1.0  # the last minutes are netted of the peers' move over those minutes
        if (
            data.net_of_control
            and data.control_change is not None
            and fit.model != "peers"
            and data.control_change > -1
        ):
            values = values / (1.0 + data.control_change)
            net = f", net of {data.control_change:+.0%} in services that did not deploy"
            if data.control_recent is not None and data.control_recent > -1:
                recent_factor = (1.0 + data.control_change) / (1.0 + data.control_recent)
        observed = bin_means(data.current_ts, values, fit.deploy_ts, fit.width, 0, m)
        expected = fit.expected(np.arange(m), data.peer_post)
        # Each sample's miss, for the sample-level median: a lone spike moves a bin's mean, not that.
        sample_bin = np.floor((data.current_ts - fit.deploy_ts) / fit.width).astype(np.int64)
        keep = (sample_bin >= 0) & (sample_bin < m)
        sample_bin, sample_miss = sample_bin[keep], values[keep] - expected[np.clip(sample_bin[keep], 0, max(m - 1, 0))]
        need = max(p.min_relative_change, data.min_change or 0.0)
        alpha = (p.alpha_final if data.final else p.alpha_interim) / max(1, data.family_size)
        failed, p_value, view = self._decide(
            m, observed, expected, sample_bin, sample_miss, fit, data, alpha, need, recent_factor
        )
        if failed and not data.final:
            # An interim fail must already have held a bin earlier: a transient of a few minutes (a
            # heavy-tailed burst decaying back) passes one look, a step passes both.
            failed = (
                m - 1 >= p.min_current_bins
                and self._decide(m - 1, observed, expected, sample_bin, sample_miss, fit, data, alpha, need)[0]
            )
        source = f"expected from {fit.describe()}{net}"
        if failed:
            verdict = VerdictResult.FAIL
            reason = (
                f"{data.metric} {'rose' if view.effect > 0 else 'fell'} to {_fmt(view.observed)} ({view.change:+.0%})"
                f"{view.label} where {_fmt(view.expected)} was {source} (z={view.z:+.1f}, p={p_value:.1e})"
            )
        else:
            verdict = VerdictResult.PASS
            if not is_worse(data.direction, view.effect):
                reason = f"{data.metric} did not get worse: {_fmt(view.observed)} vs {_fmt(view.expected)} {source}"
            elif abs(view.change) < need:
                reason = (
                    f"{data.metric} {view.change:+.1%} vs {_fmt(view.expected)} {source}: "
                    f"below the {need:.0%} bar to fail"
                )
            else:
                reason = (
                    f"{data.metric} {view.change:+.1%} vs {_fmt(view.expected)} {source}, within its usual "
                    f"misses (z={view.z:+.1f}, p={p_value:.1e})"
                )
        return MetricVerdict(
            verdict=verdict,
            baseline=view.expected,
            current=view.observed,
            change=float(view.change) if math.isfinite(view.change) else None,
            p_value=p_value,
            effect=float(view.z),
            onset=onset(data) if verdict is VerdictResult.FAIL else None,
            reason=reason,
            **common,  # type: ignore[arg-type]
        )

    def _decide(
        self,
        m: int,
        observed: FloatArray,
        expected: FloatArray,
        sample_bin: np.ndarray,
        sample_miss: FloatArray,
        fit: CounterfactualFit,
        data: JudgeInput,
        alpha: float,
        need: float,
        recent_factor: float = 1.0,
    ) -> tuple[bool, float, _View]:
        """Judge the first ``m`` bins: the whole window, and its last 10 minutes once it is long enough."""
        p = self.params
        views = [self._view("", observed, expected, sample_bin, sample_miss, fit, 0, m)]
        recent = max(1, round(p.recent_window / fit.width))
        if m * fit.width > 1.5 * p.recent_window and m - recent > 0:
            label = f" (last {round(p.recent_window / 60)} min)"
            if recent_factor != 1.0:
                sample_exp = expected[np.clip(sample_bin, 0, max(len(expected) - 1, 0))]
                observed = observed * recent_factor
                sample_miss = (sample_miss + sample_exp) * recent_factor - sample_exp
            tail = self._view(label, observed, expected, sample_bin, sample_miss, fit, m - recent, m)
            if tail.bins >= p.min_current_bins:
                views.append(tail)
        best: tuple[bool, float, _View] | None = None
        for view in views:
            p_value = _p_value(view.z, data.direction)
            # Beyond every placebo too: a deploy is not blamed for a move the last hours made on their own.
            failed = (
                is_worse(data.direction, view.effect)
                and abs(view.change) >= need
                and p_value < alpha / len(views)
                and abs(view.effect) > view.largest
            )
            if best is None or (failed and not best[0]) or (failed == best[0] and p_value < best[1]):
                best = (failed, p_value, view)
        assert best is not None
        return best

    @staticmethod
    def _view(
        label: str,
        observed: FloatArray,
        expected: FloatArray,
        sample_bin: np.ndarray,
        sample_miss: FloatArray,
        fit: CounterfactualFit,
        start: int,
        end: int,
    ) -> _View:
        obs, exp = observed[start:end], expected[start:end]
        ok = np.isfinite(obs) & np.isfinite(exp)
        if not ok.any():
            return _View(label, 0.0, 1.0, float("nan"), float("nan"), 0, 0.0)
        first = start + int(np.argmax(ok))
        _, _, largest = fit.residuals.spread(first, end)
        spread = fit.residuals.judged_spread(first, end)
        # Medians, as the placebo windows are measured: a lone spike is one bin, not a shift. The
        # bins' median and the samples' median must agree; the smaller move is the one taken (a
        # spike inflates its bin's mean, and with few bins that bin can be the median).
        # (robust.median: np.median's number for NaN-free data, without its argument handling,
        # which is most of its cost on a window's few dozen bins; three per view, every look.)
        by_bin = median(obs[ok] - exp[ok]) - fit.baseline_residual
        misses = sample_miss[(sample_bin >= start) & (sample_bin < end)]
        misses = misses[np.isfinite(misses)]
        by_sample = median(misses) - fit.baseline_residual if len(misses) else by_bin
        effect = min(by_bin, by_sample, key=abs) if by_bin * by_sample > 0 else 0.0
        seen = median(obs[ok])
        return _View(label, effect, spread, seen - effect, seen, int(ok.sum()), largest)

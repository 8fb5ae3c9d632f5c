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
    first: int = 0  # the bins the yardstick is measured over: [first, end)
    end: int = 0

    @property
    def z(self) -> float:
        return self.effect / self.spread

    @property
    def change(self) -> float:
        return self.effect / abs(self.expected) if abs(self.expected) > 1e-12 else (math.inf if self.effect else 0.0)


@dataclass(slots=True)
class _Look:
    """One metric at one look, ready to be judged: the post-deploy bins against what was expected."""

    data: JudgeInput
    fit: CounterfactualFit
    observed: FloatArray
    expected: FloatArray
    sample_bin: np.ndarray
    sample_miss: FloatArray
    need: float  # the least relative change that fails
    alpha: float  # this look's, shared between the service's metrics
    recent_factor: float
    net: str  # how the values were netted of the peers' move, for the reason


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
        m, have = self._bins(data, fit)
        if fit.baseline_filled < p.min_baseline_bins or have < p.min_current_bins:
            return MetricVerdict(
                verdict=VerdictResult.INCONCLUSIVE,
                reason=(
                    f"too little data: {fit.baseline_filled} baseline bin(s) of {fit.width:.0f} s "
                    f"(need {p.min_baseline_bins}), {have} after the deploy (need {p.min_current_bins})"
                ),
                **common,  # type: ignore[arg-type]
            )
        look = self._look(data, fit, m)
        failed, p_value, view = self._decide(look, m, look.recent_factor)
        if failed and not data.final:
            # An interim fail must already have held a bin earlier: a transient of a few minutes (a
            # heavy-tailed burst decaying back) passes one look, a step passes both.
            failed = m - 1 >= p.min_current_bins and self._decide(look, m - 1)[0]
        source = f"expected from {fit.describe()}{look.net}"
        need = look.need
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

    def fails(self, data: JudgeInput) -> bool:
        """Whether :meth:`judge` fails the metric, without what only a verdict's reason and numbers
        need: a view that is not the worse way by the bar cannot fail, so its placebo spread (most
        of a look's cost) is not measured. The engine asks this at interim looks."""
        p = self.params
        fit = data.counterfactual
        if fit is None:
            return False
        m, have = self._bins(data, fit)
        if fit.baseline_filled < p.min_baseline_bins or have < p.min_current_bins:
            return False
        look = self._look(data, fit, m)
        if not self._fails(look, m, look.recent_factor):
            return False
        return data.final or (m - 1 >= p.min_current_bins and self._fails(look, m - 1))

    @staticmethod
    def _bins(data: JudgeInput, fit: CounterfactualFit) -> tuple[int, int]:
        """(bins after the deploy complete by the look, how many of them hold data)."""
        at = data.at if data.at is not None else (float(data.current_ts[-1]) + 1e-9 if len(data.current_ts) else 0.0)
        m = fit.post_bins(at)
        observed = bin_means(data.current_ts, data.current, fit.deploy_ts, fit.width, 0, m)
        return m, int(np.isfinite(observed).sum())

    def _look(self, data: JudgeInput, fit: CounterfactualFit, m: int) -> _Look:
        """What both views of the first ``m`` bins are measured on."""
        p = self.params
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
        return _Look(
            data=data,
            fit=fit,
            observed=observed,
            expected=expected,
            sample_bin=sample_bin,
            sample_miss=sample_miss,
            need=max(p.min_relative_change, data.min_change or 0.0),
            alpha=(p.alpha_final if data.final else p.alpha_interim) / max(1, data.family_size),
            recent_factor=recent_factor,
            net=net,
        )

    def _views(self, look: _Look, m: int, recent_factor: float, measured: bool) -> list[_View]:
        """The whole window's view of the first ``m`` bins, and its last 10 minutes' once it is long
        enough; ``measured=False`` leaves their placebo spreads to :meth:`_measure`."""
        p, fit = self.params, look.fit
        observed, expected, sample_bin, sample_miss = look.observed, look.expected, look.sample_bin, look.sample_miss
        views = [self._view("", observed, expected, sample_bin, sample_miss, fit, 0, m, measured)]
        recent = max(1, round(p.recent_window / fit.width))
        if m * fit.width > 1.5 * p.recent_window and m - recent > 0:
            label = f" (last {round(p.recent_window / 60)} min)"
            if recent_factor != 1.0:
                sample_exp = expected[np.clip(sample_bin, 0, max(len(expected) - 1, 0))]
                observed = observed * recent_factor
                sample_miss = (sample_miss + sample_exp) * recent_factor - sample_exp
            tail = self._view(label, observed, expected, sample_bin, sample_miss, fit, m - recent, m, measured)
            if tail.bins >= p.min_current_bins:
                views.append(tail)
        return views

    @staticmethod
    def _fails_view(view: _View, look: _Look, share: int) -> tuple[bool, float]:
        """(failed, p-value) of one measured view; ``share``: how many views split the alpha."""
        p_value = _p_value(view.z, look.data.direction)
        # Beyond every placebo too: a deploy is not blamed for a move the last hours made on their own.
        failed = (
            is_worse(look.data.direction, view.effect)
            and abs(view.change) >= look.need
            and p_value < look.alpha / share
            and abs(view.effect) > view.largest
        )
        return failed, p_value

    def _decide(self, look: _Look, m: int, recent_factor: float = 1.0) -> tuple[bool, float, _View]:
        """Judge the first ``m`` bins: the whole window, and its last 10 minutes once it is long enough."""
        views = self._views(look, m, recent_factor, measured=True)
        best: tuple[bool, float, _View] | None = None
        for view in views:
            failed, p_value = self._fails_view(view, look, len(views))
            if best is None or (failed and not best[0]) or (failed == best[0] and p_value < best[1]):
                best = (failed, p_value, view)
        assert best is not None
        return best

    def _fails(self, look: _Look, m: int, recent_factor: float = 1.0) -> bool:
        """:meth:`_decide`'s first answer, measuring only the views that the worse way clear the bar."""
        views = self._views(look, m, recent_factor, measured=False)
        for view in views:
            if is_worse(look.data.direction, view.effect) and abs(view.change) >= look.need:
                self._measure(view, look.fit)
                if self._fails_view(view, look, len(views))[0]:
                    return True
        return False

    @staticmethod
    def _measure(view: _View, fit: CounterfactualFit) -> None:
        """Fill in a view's yardstick: the judged placebo spread and the largest placebo move."""
        if view.bins:
            view.largest = fit.residuals.spread(view.first, view.end)[2]
            view.spread = fit.residuals.judged_spread(view.first, view.end)

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
        measured: bool = True,
    ) -> _View:
        obs, exp = observed[start:end], expected[start:end]
        ok = np.isfinite(obs) & np.isfinite(exp)
        if not ok.any():
            return _View(label, 0.0, 1.0, float("nan"), float("nan"), 0, 0.0)
        first = start + int(np.argmax(ok))
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
        view = _View(label, effect, math.nan, seen - effect, seen, int(ok.sum()), math.nan, first, end)
        if measured:
            CounterfactualJudge._measure(view, fit)
        return view

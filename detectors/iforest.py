"""Several metrics at once: an isolation forest over the service's misses from what was expected.

A service judge (:class:`aiops.detectors.base.ServiceJudge`, registered as ``isolation_forest``):
the engine asks it at the final look, with every metric's input together, when it is configured.

Some regressions show in no single metric clearly (latency a little up, errors a little up, CPU a
little up). Each metric enters as its *miss* in each bin: observed minus its counterfactual
(:mod:`aiops.detectors.counterfactual`), in robust sigmas of its misses over the hours before the
deploy, the metric's worse way only (a drop in latency is no regression). The forest learns what
the older half of those hours' joint misses look like; after the deploy, the share of bins more isolated than all but
1 % of the history, and the window's mean score against the same mean over every window of the
newer half (placebos, scored out of sample like the bins after the deploy: misses are
autocorrelated, so bins are not independent evidence), say whether the
service as a whole got worse.

>>> import numpy as np
>>> from aiops.model import Direction
>>> from aiops.detectors.counterfactual import fit_counterfactual
>>> rng = np.random.default_rng(1)
>>> t_h, t_c = np.arange(-6 * 3600.0, 0.0, 30.0), np.arange(0.0, 1800.0, 30.0)
>>> def metric(name, shift):
...     fit = fit_counterfactual(t_h, rng.normal(100, 5, t_h.size), {}, deploy_ts=0.0, width=60.0,
...                              baseline_bins=60, history_bins=360, post_bins=30)
...     return JudgeInput(name, Direction.UP_IS_WORSE, 0.0, t_h, np.empty(0), t_c,
...                       rng.normal(100 + shift, 5, t_c.size), final=True, counterfactual=fit, at=1800.0)
>>> IsolationForestJudge().judge_service([metric("a", 4), metric("b", 4), metric("c", 4)]).verdict.value
'fail'
>>> IsolationForestJudge().judge_service([metric("a", 0), metric("b", 0), metric("c", 0)]).verdict.value
'pass'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.ensemble import IsolationForest

from aiops.detectors.base import FloatArray, JudgeInput
from aiops.detectors.robust import robust_sd
from aiops.direction import toward_worse
from aiops.model import Direction, MetricVerdict, VerdictResult

NAME = "multivariate (isolation forest)"


def _worse_scaled(misses: FloatArray, scale: float, direction: Direction) -> FloatArray:
    return np.maximum(toward_worse(direction, misses / scale), 0.0)


@dataclass(slots=True)
class IsolationForestJudge:
    alpha: float = 1e-3
    min_share: float = 0.15  # of post-deploy bins beyond the history's 99th percentile (15x the expected 1 %)
    min_points: int = 120  # history bins with every metric present (half train the forest)
    min_current: int = 5
    trees: int = 40
    seed: int = 0  # a fixed seed: the same data always gets the same verdict
    name: str = "isolation_forest"

    def judge_service(self, inputs: Sequence[JudgeInput]) -> MetricVerdict:
        usable = [d for d in inputs if d.counterfactual is not None and d.at is not None]
        if usable:  # one grid: the metrics sampled like the first one
            width = usable[0].counterfactual.width  # type: ignore[union-attr]
            usable = [d for d in usable if d.counterfactual.width == width]  # type: ignore[union-attr]
        if len(usable) < 2:
            return MetricVerdict(
                NAME, VerdictResult.INCONCLUSIVE, reason="fewer than two metrics with a counterfactual"
            )
        hist_cols, cur_cols = [], []
        for d in usable:
            fit = d.counterfactual
            assert fit is not None and d.at is not None
            history = fit.residuals.values - fit.baseline_residual
            scale = robust_sd(history)
            if not math.isfinite(scale) or scale <= 0:
                scale = 1e-9
            hist_cols.append(_worse_scaled(history, scale, d.direction))
            cur_cols.append(_worse_scaled(fit.misses(d.current_ts, d.current, d.at, d.peer_post), scale, d.direction))
        hist = np.column_stack(hist_cols)
        cur = np.column_stack(cur_cols)
        hist = hist[np.isfinite(hist).all(axis=1)]
        cur = cur[np.isfinite(cur).all(axis=1)]
        if len(hist) < self.min_points or len(cur) < self.min_current:
            return MetricVerdict(
                NAME,
                VerdictResult.INCONCLUSIVE,
                reason=f"too little data: {len(hist)} history bins (need {self.min_points}), {len(cur)} after",
            )
        # Trained on the older half of the history; the newer half is scored as the post-deploy bins
        # are, out of sample (a forest finds its own training points more normal than new ones).
        half = len(hist) // 2
        forest = IsolationForest(n_estimators=self.trees, random_state=self.seed).fit(hist[:half])
        # score_samples: higher = more normal. Negate so that higher = more isolated.
        hist_scores = -forest.score_samples(hist[half:])
        cur_scores = -forest.score_samples(cur)
        # The window's mean score against the same mean over every window of the newer half
        # (placebos): neighbouring bins' scores are alike, so a rank test would count them as far
        # more independent evidence than they are.
        length = min(len(cur), len(hist_scores) // 2)
        windows = np.lib.stride_tricks.sliding_window_view(hist_scores, length).mean(axis=1)
        spread = max(
            float(np.quantile(np.abs(windows - np.median(windows)), 0.9)) / 1.645,
            float(np.std(hist_scores)) / math.sqrt(len(cur)),
            1e-12,
        )
        z = (float(cur_scores.mean()) - float(np.median(windows))) / spread
        p = 0.5 * math.erfc(z / math.sqrt(2))
        cut = float(np.quantile(hist_scores, 0.99))
        share = float(np.mean(cur_scores > cut))
        failed = p < self.alpha and share >= self.min_share
        names = ", ".join(d.metric for d in usable)
        reason = (
            f"{share:.0%} of the bins after the deploy miss their expectation more unusually than 99 % of the "
            f"hours before, across {names} (p={p:.1e})"
        )
        first = usable[0]
        fit0 = first.counterfactual
        assert fit0 is not None
        onset_bin = int(np.argmax(cur_scores > cut)) if failed else None
        return MetricVerdict(
            NAME,
            VerdictResult.FAIL if failed else VerdictResult.PASS,
            baseline=0.01,
            current=share,
            change=share - 0.01,
            p_value=p,
            effect=share / 0.01,
            direction=Direction.UP_IS_WORSE,
            baseline_n=len(hist),
            current_n=len(cur),
            onset=fit0.deploy_ts + onset_bin * fit0.width if onset_bin is not None else None,
            reason=reason,
        )

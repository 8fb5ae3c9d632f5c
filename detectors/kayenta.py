"""A Kayenta-style judge, the reference we measure against (Netflix/Spinnaker Kayenta's default).

Per metric: Mann-Whitney U between the baseline (before) and the canary (after) at 98 %
confidence, and a fail only when the change is also beyond a 25 % tolerance in the metric's worse
direction. Like Kayenta's canary analysis it answers once, when the analysis window has closed:
interim looks always say pass, so the engine keeps the verdict pending until then.

>>> import numpy as np
>>> from aiops.detectors.base import JudgeInput
>>> from aiops.model import Direction
>>> before, after = np.full(50, 100.0) + np.arange(50) % 3, np.full(20, 140.0) + np.arange(20) % 3
>>> data = JudgeInput("latency", Direction.UP_IS_WORSE, 0.0, np.arange(50.0), before, np.arange(20.0), after,
...                   final=True)
>>> KayentaJudge().judge(data).verdict.value
'fail'
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aiops.detectors.base import JudgeInput
from aiops.detectors.stats import mann_whitney_p
from aiops.direction import toward_worse
from aiops.model import MetricVerdict, VerdictResult


@dataclass(slots=True)
class KayentaJudge:
    confidence: float = 0.98
    tolerance: float = 0.25
    min_points: int = 3
    name: str = "kayenta"
    # Kayenta has no recent view; the engine still watches a failed deploy's recovery over this span.
    recent_window: float = 600.0

    @property
    def reads_context(self) -> bool:
        return False  # baseline and current samples only: no peers, no earlier days

    def fails(self, data: JudgeInput) -> bool:
        return self.judge(data).verdict is VerdictResult.FAIL

    def judge(self, data: JudgeInput) -> MetricVerdict:
        base, cur = data.baseline, data.current
        common = {"metric": data.metric, "direction": data.direction, "baseline_n": len(base), "current_n": len(cur)}
        if len(base) < self.min_points or len(cur) < self.min_points:
            return MetricVerdict(verdict=VerdictResult.INCONCLUSIVE, reason="too little data", **common)  # type: ignore[arg-type]
        if not data.final:
            return MetricVerdict(verdict=VerdictResult.PASS, reason="waiting for the window", **common)  # type: ignore[arg-type]
        b_med, c_med = float(np.median(base)), float(np.median(cur))
        p = mann_whitney_p(cur, base, "two-sided")
        ratio = c_med / b_med if b_med else (np.inf if c_med > 0 else 1.0)
        change = float(ratio - 1.0) if np.isfinite(ratio) else None
        worse = toward_worse(data.direction, float(ratio) - 1.0) > self.tolerance
        failed = p < 1 - self.confidence and worse
        return MetricVerdict(
            verdict=VerdictResult.FAIL if failed else VerdictResult.PASS,
            baseline=b_med,
            current=c_med,
            change=change,
            p_value=p,
            effect=change,
            reason=f"{data.metric}: ratio {ratio:.2f}, p={p:.1e}" + (" beyond tolerance" if failed else ""),
            **common,  # type: ignore[arg-type]
        )

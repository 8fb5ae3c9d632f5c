"""Calibration from feedback: false positives raise the bar for one service's metric, explainably.

A false positive says "this change is normal for this metric of this service" (a cache that warms
up after every deploy, a batch job that runs at release time). The bar for that (service, metric)
becomes 1.25 x the largest change people marked as a false positive, so the same kind of change no
longer fails a deploy, but never above 0.9 x the smallest change people confirmed as a true
positive, so known regressions still fail. Deleting the feedback undoes it.

>>> from aiops.model import Feedback, FeedbackLabel
>>> fp = Feedback("deployment", "d1", FeedbackLabel.FALSE_POSITIVE, "api", ("cache_miss_ratio",),
...               changes=(("cache_miss_ratio", 0.14),))
>>> calibrate([fp])
{('api', 'cache_miss_ratio'): 0.175}
>>> explain([fp])[0]["reason"]
'1 false positive(s) up to +14%: needs more than +18% to fail'
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from aiops.model import Feedback, FeedbackLabel

MARGIN_OVER_FALSE_POSITIVES = 1.25
MARGIN_UNDER_TRUE_POSITIVES = 0.9


def _evidence(feedback: Iterable[Feedback]) -> dict[tuple[str, str], dict[str, list[float]]]:
    seen: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: {"fp": [], "tp": []})
    for fb in feedback:
        kind = "fp" if fb.label is FeedbackLabel.FALSE_POSITIVE else "tp"
        for metric, change in fb.changes:
            seen[(fb.service, metric)][kind].append(abs(change))
    return seen


def calibrate(feedback: Iterable[Feedback]) -> dict[tuple[str, str], float]:
    """(service, metric) -> least relative change that fails it; only metrics with false positives."""
    bars = {}
    for key, ev in _evidence(feedback).items():
        if not ev["fp"]:
            continue
        bar = MARGIN_OVER_FALSE_POSITIVES * max(ev["fp"])
        if ev["tp"]:
            bar = min(bar, MARGIN_UNDER_TRUE_POSITIVES * min(ev["tp"]))
        bars[key] = round(bar, 4)
    return bars


def explain(feedback: Iterable[Feedback]) -> list[dict[str, Any]]:
    """One line per calibrated metric, for GET /v1/calibration."""
    feedback = list(feedback)
    bars = calibrate(feedback)
    out = []
    for (service, metric), ev in sorted(_evidence(feedback).items()):
        if (service, metric) not in bars:
            continue
        bar = bars[(service, metric)]
        reason = f"{len(ev['fp'])} false positive(s) up to +{max(ev['fp']):.0%}: needs more than +{bar:.0%} to fail"
        if ev["tp"]:
            reason += f" (kept below the smallest confirmed regression, +{min(ev['tp']):.0%})"
        out.append({"service": service, "metric": metric, "min_change": bars[(service, metric)], "reason": reason})
    return out

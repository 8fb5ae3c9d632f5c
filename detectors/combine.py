"""From per-metric verdicts to one deploy verdict with a 0-100 score and reasons.

The score says how clean the deploy looks: 100 nothing moved the wrong way, 0 at least one metric
is far worse with overwhelming evidence. A fail always scores 40 or less, a pass 60 or more.

>>> from aiops.model import MetricVerdict, VerdictResult
>>> ok = MetricVerdict("latency", VerdictResult.PASS, p_value=0.4, effect=0.1)
>>> combine("dep-1", "api", [ok], decided_at=60.0, final=True).verdict.value
'pass'
"""

from __future__ import annotations

from collections.abc import Sequence

from aiops.model import MetricVerdict, Verdict, VerdictResult


def badness(m: MetricVerdict, alpha: float = 1e-3, min_effect: float = 1.0) -> float:
    """0 (fine) .. 1 (far worse, overwhelming evidence) for one metric verdict."""
    if m.verdict is VerdictResult.INCONCLUSIVE or m.p_value is None or m.effect is None:
        return 0.0
    size = min(1.0, abs(m.effect) / (4.0 * min_effect))
    evidence = 1.0 - min(1.0, m.p_value / max(alpha, 1e-12)) * 0.5 if m.p_value < 0.5 else 0.0
    value = size * evidence
    if m.verdict is VerdictResult.FAIL:
        return max(0.6, value)
    return min(value, 0.4)


def combine(
    deployment_id: str,
    service: str,
    metrics: Sequence[MetricVerdict],
    *,
    decided_at: float,
    final: bool,
    version: str = "",
    fleet_metrics: Sequence[str] = (),
    cut_short: str = "",
) -> Verdict:
    """The deploy's verdict; PENDING while nothing failed and the window is still open."""
    ordered = tuple(sorted(metrics, key=lambda m: (-badness(m), m.metric)))
    worst = max((badness(m) for m in ordered), default=0.0)
    score = round(100.0 * (1.0 - worst), 1)
    failed = [m for m in ordered if m.verdict is VerdictResult.FAIL]
    judged = [m for m in ordered if m.verdict is not VerdictResult.INCONCLUSIVE]
    fleet_note = (
        f"; {', '.join(fleet_metrics)} moved fleet-wide (services that did not deploy too): not blamed on this deploy"
        if fleet_metrics
        else ""
    )

    def decided(result: VerdictResult, value: float, reason: str, when: float | None = decided_at) -> Verdict:
        return Verdict(
            deployment_id,
            service,
            result,
            value,
            when,
            ordered,
            reason,
            version,
            fleet_wide=bool(fleet_metrics) and result is VerdictResult.INCONCLUSIVE,
        )

    if failed:
        return decided(VerdictResult.FAIL, min(score, 40.0), "; ".join(m.reason for m in failed) + fleet_note)
    if not final:
        return decided(VerdictResult.PENDING, score, "analysis window open", when=None)
    if fleet_metrics:
        return decided(VerdictResult.INCONCLUSIVE, 50.0, fleet_note.removeprefix("; "))
    if not judged:
        reasons = "; ".join(f"{m.metric}: {m.reason}" for m in ordered) or "no metrics for this service"
        return decided(VerdictResult.INCONCLUSIVE, 50.0, f"not enough data to judge{cut_short}: {reasons}")
    return decided(VerdictResult.PASS, max(score, 60.0), f"{len(judged)} metric(s) judged, none worse{cut_short}")

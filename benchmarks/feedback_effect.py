"""Feedback benchmark: a noisy metric keeps failing good deploys; a few false-positive labels fix it.

    python -m benchmarks.feedback_effect --seeds 1-5 [--labels 3]

Each seed is a 48-hour fleet (aiops.eval.simulate) plus, on its first service, ``cache_miss_ratio``: a
cache that warms up after *every* deploy (+10-20 % misses for 20 minutes), bad or good. Without
feedback, good deploys of that service fail on it. Then the first ``--labels`` such false fails
are labelled false positive (with the change they showed, as POST /v1/deployments/{id}/feedback
records it), the calibration is computed (aiops.calibration) and the whole fleet is judged again.

Reported per seed: false fails on that metric among the good deploys that were *not* labelled,
before and after; and recall on bad deploys before and after (everything still failing?).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np

from aiops.calibration import calibrate
from aiops.config import Settings
from aiops.eval.simulate import FleetSpec, simulate_fleet
from aiops.model import Effects, Feedback, FeedbackLabel, VerdictResult
from aiops.parsing import parse_value
from aiops.pipeline import build_engine
from benchmarks.deploy_regression import parse_seeds

NOISY = "cache_miss_ratio"
SPEC = FleetSpec(
    services=8,
    hours=48,
    deploys_per_service=8,
    bad_share=0.3,
    effect_range=(0.15, 0.4),
    fleet_incidents=0,
    warmup_hours=3,
)


def with_noisy_metric(seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str]:
    fleet = simulate_fleet(SPEC, seed)
    service = fleet.truth[0]["service"]
    rng = np.random.default_rng(seed + 1000)
    times = sorted({e["ts"] for e in fleet.events if e.get("service") == service and "metric" in e})
    ts = np.array(times)
    values = 0.2 * (1 + rng.normal(0, 0.05, len(ts)))
    for d in (t for t in fleet.truth if t["service"] == service):
        for deploy_ts in (d["ts"], d.get("rollback_at")):
            if deploy_ts:
                warm = (ts >= deploy_ts) & (ts < deploy_ts + 1200)
                values[warm] *= 1 + rng.uniform(0.10, 0.20)
    extra = [
        {"service": service, "metric": NOISY, "ts": float(t), "value": float(v)}
        for t, v in zip(ts, values, strict=True)
    ]
    events = sorted(
        [e for e in fleet.events if "_raw" not in e] + extra, key=lambda e: (e["ts"], 0 if "type" in e else 1)
    )
    return events, fleet.truth, service


def noisy_fails(effects: Effects, good_of_service: set[str]) -> list[Any]:
    """Good deploys of the noisy service failed on (among others) the noisy metric, in time order."""
    failed = [
        v
        for v in effects.verdicts
        if v.deployment_id in good_of_service
        and v.verdict is VerdictResult.FAIL
        and any(m.metric == NOISY and m.verdict is VerdictResult.FAIL for m in v.metrics)
    ]
    return sorted(failed, key=lambda v: v.decided_at or 0.0)


def recall(effects: Effects, bad: set[str]) -> float:
    failed = {v.deployment_id for v in effects.verdicts if v.verdict is VerdictResult.FAIL}
    return len(failed & bad) / len(bad) if bad else 1.0


def judge(events: list[dict[str, Any]], calibration: dict[tuple[str, str], float]) -> Effects:
    records = parse_value(events).records
    engine = build_engine(Settings(), calibration)
    out = engine.process(records)
    out.extend(engine.finish())
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="1-5")
    ap.add_argument("--labels", type=int, default=3)
    args = ap.parse_args(argv)
    total_before = total_after = 0
    print(f"{'seed':>4} {'labelled':>8} {'noisy FF before':>15} {'after':>6} {'recall before':>13} {'after':>6}  bar")
    for seed in parse_seeds(args.seeds):
        events, truth, service = with_noisy_metric(seed)
        bad = {t["id"] for t in truth if t["bad"]}
        good_of_service = {t["id"] for t in truth if not t["bad"] and t["service"] == service}

        before = judge(events, {})
        labelled = noisy_fails(before, good_of_service)[: args.labels]
        feedback = [
            Feedback(
                "deployment",
                v.deployment_id,
                FeedbackLabel.FALSE_POSITIVE,
                service,
                (NOISY,),
                changes=tuple((m.metric, m.change) for m in v.metrics if m.metric == NOISY and m.change),
            )
            for v in labelled
        ]
        bars = calibrate(feedback)
        after = judge(events, bars)
        skip = {v.deployment_id for v in labelled}
        n_before = sum(1 for v in noisy_fails(before, good_of_service) if v.deployment_id not in skip)
        n_after = sum(1 for v in noisy_fails(after, good_of_service) if v.deployment_id not in skip)
        total_before += n_before
        total_after += n_after
        print(
            f"{seed:>4} {len(labelled):>8} {n_before:>15} {n_after:>6} "
            f"{recall(before, bad):>13.3f} {recall(after, bad):>6.3f}  "
            f"{bars.get((service, NOISY), 0):.3f}",
            flush=True,
        )
    drop = 1 - total_after / total_before if total_before else 0.0
    print(
        f"false fails on the noisy metric (unlabelled good deploys): {total_before} -> {total_after} ({drop:.0%} fewer)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

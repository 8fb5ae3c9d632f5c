"""Deploy-regression benchmark: our engine and a Kayenta-style judge on the same simulated fleets.

    python -m benchmarks.deploy_regression --profile hard --seeds 1-10

Each seed is a fleet (aiops.eval.simulate): daily cycles shared by the fleet, Student-t noise, isolated
spikes, deploys with no effect, bad deploys (step, 5-minute ramp, 30-minute leak) with effects
drawn from the profile's range, rollbacks, fleet-wide incidents starting 1-5 minutes after an
innocent deploy, and malformed lines. The truth comes with the fleet. Both judges run through the
same engine (event time, same windows); the Kayenta-style one has no fleet control and answers when
the window closes, as Kayenta's canary analysis does.

Scores per seed: precision, recall and F1 of fail verdicts, false-fail rate (good deploys failed),
median time-to-fail in event time, and innocent deploys blamed for a fleet-wide incident.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

from aiops.config import Settings
from aiops.engine import Engine, EngineConfig
from aiops.eval.simulate import Fleet, FleetSpec, simulate_fleet
from aiops.model import Effects, VerdictResult
from aiops.parsing import parse_value
from aiops.pipeline import build_engine

PROFILES = {
    # Small effects only: the regressions Kayenta's 25 % tolerance cannot see.
    "hard": FleetSpec(
        services=8,
        hours=30,
        deploys_per_service=4,
        bad_share=0.35,
        effect_range=(0.08, 0.20),
        fleet_incidents=2,
        bad_line_rate=0.0005,
        warmup_hours=3,
    ),
    # Small and large effects.
    "mixed": FleetSpec(
        services=8,
        hours=30,
        deploys_per_service=4,
        bad_share=0.35,
        effect_range=(0.08, 0.6),
        fleet_incidents=2,
        bad_line_rate=0.0005,
        warmup_hours=3,
    ),
}


@dataclass(slots=True)
class Score:
    deploys: int
    bad: int
    tp: int
    fp: int
    fn: int
    tn: int
    precision: float
    recall: float
    f1: float
    false_fail_rate: float
    median_ttf_min: float | None
    fleet_blamed: int
    inconclusive: int


def settings_for(judge: str, config: EngineConfig | None = None) -> Settings:
    """The settings each benchmarked judge runs with (``config``: other windows than the defaults).

    ``aiops``: the service's defaults. ``kayenta``: the Kayenta-style judge with no fleet control, no
    earlier days and no service judge (Kayenta's canary analysis has none of those).
    """
    if judge == "kayenta":
        return Settings(engine=replace(config or EngineConfig(), fleet_check=False, seasonal_days=0), judge="kayenta")
    if judge != "aiops":
        raise ValueError(f"unknown judge {judge!r}: one of aiops, kayenta")
    return Settings(engine=config or EngineConfig())


def engine_for(judge: str, config: EngineConfig | None = None) -> Engine:
    """The engine the service would build from :func:`settings_for` (``aiops.pipeline.build_engine``)."""
    return build_engine(settings_for(judge, config))


def run_engine(fleet: Fleet, judge: str) -> Effects:
    parsed = parse_value([e for e in fleet.events if "_raw" not in e])
    engine = engine_for(judge)
    effects = Effects()
    for i in range(0, len(parsed.records), 5000):
        effects.extend(engine.process(parsed.records[i : i + 5000]))
    effects.extend(engine.finish())
    return effects


def score(fleet: Fleet, effects: Effects) -> Score:
    truth = {t["id"]: t for t in fleet.truth}
    rollbacks = {t["id"] + "-rollback" for t in fleet.truth if t.get("rollback_at")}
    tp = fp = fn = tn = fleet_blamed = inconclusive = 0
    ttf = []
    for v in effects.verdicts:
        failed = v.verdict is VerdictResult.FAIL
        inconclusive += v.verdict is VerdictResult.INCONCLUSIVE
        row = truth.get(v.deployment_id)
        bad = bool(row and row["bad"])
        if v.deployment_id not in truth and v.deployment_id not in rollbacks:
            continue
        if bad and failed:
            tp += 1
            ttf.append(((v.decided_at or 0.0) - row["ts"]) / 60.0)  # type: ignore[index]
        elif bad:
            fn += 1
        elif failed:
            fp += 1
            fleet_blamed += bool(row and row["fleet"])
        else:
            tn += 1
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Score(
        deploys=tp + fp + fn + tn,
        bad=tp + fn,
        tp=tp,
        fp=fp,
        fn=fn,
        tn=tn,
        precision=round(precision, 3),
        recall=round(recall, 3),
        f1=round(f1, 3),
        false_fail_rate=round(fp / (fp + tn), 4) if fp + tn else 0.0,
        median_ttf_min=round(statistics.median(ttf), 1) if ttf else None,
        fleet_blamed=fleet_blamed,
        inconclusive=inconclusive,
    )


def parse_seeds(text: str) -> list[int]:
    seeds: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        seeds.extend(range(int(lo), int(hi or lo) + 1))
    return seeds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", choices=sorted(PROFILES), default="hard")
    ap.add_argument("--seeds", default="1-10")
    ap.add_argument("--out", help="write the per-seed results as JSON")
    args = ap.parse_args(argv)
    spec = PROFILES[args.profile]
    rows: list[dict[str, Any]] = []
    print(
        f"{'seed':>4} {'judge':<8} {'deploys':>7} {'bad':>4} {'F1':>6} {'prec':>6} {'recall':>6} "
        f"{'false-fail':>10} {'ttf(min)':>8} {'fleet-blamed':>12} {'secs':>5}"
    )
    for seed in parse_seeds(args.seeds):
        fleet = simulate_fleet(spec, seed)
        for judge in ("aiops", "kayenta"):
            started = time.perf_counter()
            s = score(fleet, run_engine(fleet, judge))
            secs = time.perf_counter() - started
            rows.append({"seed": seed, "judge": judge, **asdict(s), "seconds": round(secs, 2)})
            print(
                f"{seed:>4} {judge:<8} {s.deploys:>7} {s.bad:>4} {s.f1:>6.3f} {s.precision:>6.3f} {s.recall:>6.3f} "
                f"{s.false_fail_rate:>10.3f} {s.median_ttf_min if s.median_ttf_min is not None else '-':>8} "
                f"{s.fleet_blamed:>12} {secs:>5.1f}",
                flush=True,
            )
    for judge in ("aiops", "kayenta"):
        mine = [r for r in rows if r["judge"] == judge]
        tp, fp, fn, tn = (sum(r[k] for r in mine) for k in ("tp", "fp", "fn", "tn"))
        p = tp / (tp + fp) if tp + fp else 1.0
        r_ = tp / (tp + fn) if tp + fn else 1.0
        ttfs = [r["median_ttf_min"] for r in mine if r["median_ttf_min"] is not None]
        print(
            f"pooled {judge:<8} F1 {2 * p * r_ / (p + r_) if p + r_ else 0:.3f}  precision {p:.3f}  recall {r_:.3f}  "
            f"false-fail {fp / (fp + tn) if fp + tn else 0:.3f}  median of per-seed median ttf "
            f"{statistics.median(ttfs) if ttfs else '-'} min  fleet-blamed {sum(r['fleet_blamed'] for r in mine)}"
        )
    if args.out:
        meta = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": platform.platform(),
            "python": sys.version.split()[0],
            "profile": args.profile,
            "spec": asdict(spec),
        }
        with open(args.out, "w") as fh:
            json.dump({"meta": meta, "rows": rows}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A fleet simulator: seasonal metrics, heavy-tailed noise, deploys good and bad, fleet-wide trouble.

Used by ``aiops demo`` and by the deploy-regression benchmark (``benchmarks/``). Everything is drawn
from one seeded generator, so a seed is a reproducible fleet; the truth (which deploys are bad, which
incidents are fleet-wide) comes with the events.

>>> fleet = simulate_fleet(FleetSpec(services=2, hours=4, deploys_per_service=1, bad_share=0.0), seed=1)
>>> fleet.events[0]["ts"] <= fleet.events[-1]["ts"]
True
>>> sorted({t["bad"] for t in fleet.truth})
[False]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

START_TS = 1_795_000_000.0  # 2026-11-18T10:13:20Z: a fixed epoch keeps seeds reproducible

# name, base level, relative noise, direction sign (+1: up is worse), daily amplitude (relative)
METRICS: tuple[tuple[str, float, float, int, float], ...] = (
    ("http_request_duration_seconds_p99", 0.25, 0.06, +1, 0.25),
    ("http_errors_ratio", 0.01, 0.10, +1, 0.10),
    ("http_requests_per_second", 400.0, 0.05, -1, 0.45),
    ("cpu_utilization", 0.45, 0.05, +1, 0.30),
)
SHAPES = ("step", "ramp", "leak")


@dataclass(frozen=True, slots=True)
class FleetSpec:
    services: int = 6
    hours: float = 12.0
    interval: float = 15.0  # seconds between samples of one metric
    deploys_per_service: int = 3
    bad_share: float = 0.3  # share of deploys that make things worse
    bad_count: int | None = None  # exactly this many bad deploys instead (the demo wants one)
    effect_range: tuple[float, float] = (0.08, 0.6)  # relative size of a bad deploy's effect
    fleet_incidents: int = 1  # fleet-wide problems, each just after an innocent deploy
    spike_rate: float = 0.002  # isolated spikes per sample
    rollback_share: float = 0.5  # share of bad deploys rolled back later
    bad_line_rate: float = 0.0  # malformed lines mixed in (for replay tests)
    warmup_hours: float = 2.0  # no deploys before this: baselines need history
    names: tuple[str, ...] = field(default=())


@dataclass(slots=True)
class Fleet:
    events: list[dict[str, Any]]  # time-ordered native JSON shapes (plus bad lines as {"_raw": ...})
    truth: list[dict[str, Any]]  # one row per deploy: id, service, bad, shape, effect, metric(s), fleet


def _service_names(spec: FleetSpec) -> list[str]:
    if spec.names:
        return list(spec.names[: spec.services])
    base = [
        "checkout",
        "payments",
        "search",
        "frontend",
        "catalog",
        "cart",
        "auth",
        "shipping",
        "inventory",
        "pricing",
        "reviews",
        "users",
        "orders",
        "notify",
        "ads",
        "media",
    ]
    return [base[i % len(base)] + ("" if i < len(base) else f"-{i // len(base)}") for i in range(spec.services)]


def _effect_profile(shape: str, t: np.ndarray, start: float, size: float) -> np.ndarray:
    """Relative effect over time: step at once, ramp over 5 min, slow leak over 30 min."""
    dt = np.clip(t - start, 0.0, None)
    active = t >= start
    if shape == "step":
        return np.where(active, size, 0.0)
    if shape == "ramp":
        return np.where(active, size * np.minimum(1.0, dt / 300.0), 0.0)
    return np.where(active, size * np.minimum(1.0, dt / 1800.0), 0.0)


def simulate_fleet(spec: FleetSpec, seed: int) -> Fleet:
    rng = np.random.default_rng(seed)
    names = _service_names(spec)
    n = int(spec.hours * 3600 / spec.interval)
    t = START_TS + np.arange(n) * spec.interval
    end = t[-1]
    phase = rng.uniform(0, 2 * math.pi)  # one daily cycle for the whole fleet (same users)

    # Deploy times: spread after warm-up, at least 45 minutes apart within a service.
    deploys: list[dict[str, Any]] = []
    first = START_TS + spec.warmup_hours * 3600
    last = end - 3600
    for svc in names:
        if last <= first:
            break
        slots = np.sort(rng.uniform(first, last, spec.deploys_per_service))
        previous = -math.inf
        for k, ts in enumerate(slots):
            if ts - previous < 2700:
                continue
            previous = float(ts)
            bad = bool(rng.random() < spec.bad_share)
            deploys.append({"service": svc, "ts": float(round(ts)), "version": f"v1.{k + 1}.0", "bad": bad})

    if spec.bad_count is not None:
        for d in deploys:
            d["bad"] = False
        for i in rng.choice(len(deploys), size=min(spec.bad_count, len(deploys)), replace=False).tolist():
            deploys[i]["bad"] = True

    # Fleet-wide incidents: pick an innocent deploy and make every service worse a little later.
    fleet_events = []
    innocent = [d for d in deploys if not d["bad"]]
    for _ in range(min(spec.fleet_incidents, len(innocent))):
        d = innocent[int(rng.integers(len(innocent)))]
        start = d["ts"] + float(rng.uniform(60, 300))
        fleet_events.append(
            {
                "start": start,
                "end": start + 1800,
                "size": float(rng.uniform(0.4, 0.8)),
                "metric": "http_request_duration_seconds_p99",
                "near": d,
            }
        )
        d["fleet"] = True

    series: dict[tuple[str, str], np.ndarray] = {}
    for svc in names:
        scale = float(rng.uniform(0.6, 1.6))
        for metric, level, noise, sign, amp in METRICS:
            base = level * scale
            daily = 1.0 + amp * np.sin(2 * math.pi * (t - START_TS) / 86400.0 + phase)
            # Student-t noise: production metrics have heavy tails, Gaussian noise flatters detectors.
            eps = rng.standard_t(4, n) * noise
            values = base * daily * (1.0 + eps)
            spikes = rng.random(n) < spec.spike_rate
            values[spikes] *= 1.0 + sign * rng.uniform(1.0, 3.0, int(spikes.sum()))
            series[(svc, metric)] = values

    truth = []
    for d in deploys:
        svc = d["service"]
        row = {
            "id": f"{svc}-{d['version']}",
            "service": svc,
            "version": d["version"],
            "ts": d["ts"],
            "bad": d["bad"],
            "fleet": bool(d.get("fleet")),
            "shape": None,
            "effect": 0.0,
            "metrics": [],
        }
        if d["bad"]:
            shape = SHAPES[int(rng.integers(len(SHAPES)))]
            size = float(rng.uniform(*spec.effect_range))
            hit = [METRICS[int(rng.integers(len(METRICS)))]]
            # Runtime metrics move together: a slower service also burns more CPU.
            if rng.random() < 0.5:
                hit.append(METRICS[int(rng.integers(len(METRICS)))])
            rollback_at = None
            if rng.random() < spec.rollback_share:
                rollback_at = d["ts"] + float(rng.uniform(2400, 3000))
            for metric, _level, _noise, sign, _amp in {m[0]: m for m in hit}.values():
                effect = _effect_profile(shape, t, d["ts"], size)
                if rollback_at is not None:
                    effect = np.where(t >= rollback_at, 0.0, effect)
                series[(svc, metric)] *= 1.0 + sign * effect
                row["metrics"].append(metric)
            row.update(shape=shape, effect=size, rollback_at=rollback_at)
        truth.append(row)

    for fe in fleet_events:
        active = (t >= fe["start"]) & (t < fe["end"])
        for svc in names:
            series[(svc, fe["metric"])][active] *= 1.0 + fe["size"]

    events: list[dict[str, Any]] = []
    for (svc, metric), values in series.items():
        for ts, v in zip(t.tolist(), values.tolist(), strict=True):
            events.append({"service": svc, "metric": metric, "ts": ts, "value": round(v, 6)})
    for row in truth:
        events.append(
            {
                "type": "deploy",
                "id": row["id"],
                "service": row["service"],
                "version": row["version"],
                "ts": row["ts"],
                "environment": "prod",
            }
        )
        if row.get("rollback_at"):
            events.append(
                {
                    "type": "rollback",
                    "id": row["id"] + "-rollback",
                    "service": row["service"],
                    "version": "previous",
                    "ts": round(row["rollback_at"]),
                    "environment": "prod",
                }
            )
    # Deploy events sort before samples of the same second, like a CD system that reports first.
    events.sort(key=lambda e: (e["ts"], 0 if "type" in e else 1))
    if spec.bad_line_rate > 0:
        bad_lines = [
            '{"service": "x", "metric": "m", "ts": 1, "value": "NaN"}',
            '{"truncated": ',
            '{"service": "", "metric": "m", "ts": 1, "value": 1}',
            "[1, 2]",
        ]
        k = int(len(events) * spec.bad_line_rate)
        for pos in sorted(rng.choice(len(events), size=k, replace=False).tolist(), reverse=True):
            events.insert(pos, {"_raw": bad_lines[pos % len(bad_lines)]})
    for fe in fleet_events:
        fe.pop("near")
    return Fleet(events, truth)

"""Small deterministic fleets for tests (the big ones live in benchmarks/)."""

from __future__ import annotations

import numpy as np

from aiops.config import Settings
from aiops.engine import Engine
from aiops.engine_config import EngineConfig
from aiops.model import DeployEvent, DeployKind, MetricSample, Record
from aiops.pipeline import build_engine

T0 = 1_795_000_000.0


def make_engine(config: EngineConfig | None = None, service_judge: str | None = None) -> Engine:
    """The engine the service builds from these settings (the default judge; a service judge by name)."""
    return build_engine(Settings(engine=config or EngineConfig(), service_judge=service_judge))


def service_samples(
    service: str,
    *,
    metric: str = "http_request_duration_seconds_p99",
    start: float = T0,
    minutes: int = 180,
    interval: float = 15.0,
    level: float = 0.2,
    noise: float = 0.02,
    shift_at: float | None = None,
    shift: float = 0.0,
    seed: int = 0,
) -> list[MetricSample]:
    """One metric: a level with Gaussian noise, multiplied by (1 + shift) from ``shift_at`` on."""
    rng = np.random.default_rng(seed)
    n = int(minutes * 60 / interval)
    ts = start + np.arange(n) * interval
    values = level * (1 + rng.normal(0, noise, n))
    if shift_at is not None:
        values = np.where(ts >= shift_at, values * (1 + shift), values)
    return [MetricSample(service, metric, float(t), float(v)) for t, v in zip(ts, values, strict=True)]


def deploy(service: str, at: float, version: str = "v2", kind: DeployKind = DeployKind.DEPLOY) -> DeployEvent:
    return DeployEvent.create(service, version, at, kind, id=f"{service}-{version}")


def in_time_order(records: list[Record]) -> list[Record]:
    return sorted(records, key=lambda r: (r.ts, 0 if isinstance(r, DeployEvent) else 1))

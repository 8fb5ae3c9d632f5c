"""The pipeline's guarantees to a consumer: effects the store refused are kept and written first, and
the engine's horizon is only moved under the pipeline's lock."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from aiops.config import Settings
from aiops.metrics import Metrics
from aiops.model import DeployEvent, Effects
from aiops.pipeline import build_engine, build_pipeline
from aiops.store import StoreUnavailable, open_store


class FlakyStore:
    """A real store that refuses writes while ``down`` is set."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.down = False
        self.writes: list[Effects] = []

    def write(self, effects: Effects) -> None:
        if self.down:
            raise StoreUnavailable("PostgreSQL test unreachable")
        self.writes.append(effects)
        self.inner.write(effects)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def deploy(i: int) -> DeployEvent:
    return DeployEvent.create("svc", f"v{i}", 1795000000.0 + i * 3600, id=f"d{i}")


def test_refused_effects_are_kept_until_the_store_takes_them(tmp_path: Path) -> None:
    store = FlakyStore(open_store(f"sqlite:///{tmp_path}/p.db"))
    pipeline = build_pipeline(Settings(), store)  # type: ignore[arg-type]
    store.down = True
    with pytest.raises(StoreUnavailable):
        pipeline.ingest_records([deploy(1)])
    assert pipeline.has_unwritten
    with pytest.raises(StoreUnavailable):
        pipeline.write_unwritten()  # still down: still held
    store.down = False
    pipeline.write_unwritten()
    assert not pipeline.has_unwritten
    pipeline.ingest_records([deploy(2)])
    assert [[d.id for d in w.deploys] for w in store.writes] == [["d1"], ["d2"]]  # the held one first
    assert {r.deploy.id for r in store.inner.list_deployments().items} == {"d1", "d2"}
    store.inner.close()


def test_a_new_engine_drops_what_the_old_one_could_not_write(tmp_path: Path) -> None:
    # The records behind them were never committed: the rebuilt engine reads them again.
    store = FlakyStore(open_store(f"sqlite:///{tmp_path}/p.db"))
    pipeline = build_pipeline(Settings(), store)  # type: ignore[arg-type]
    store.down = True
    with pytest.raises(StoreUnavailable):
        pipeline.ingest_records([deploy(1)])
    pipeline.replace_engine(build_engine(Settings()))
    assert not pipeline.has_unwritten
    store.inner.close()


def test_the_horizon_moves_only_under_the_pipelines_lock() -> None:
    pipeline = build_pipeline(Settings(), None)
    moved = threading.Event()
    with pipeline._lock:  # a batch in progress (the API's thread shares the engine)
        setter = threading.Thread(target=lambda: (pipeline.set_horizon_limit(123.0), moved.set()))
        setter.start()
        time.sleep(0.2)
        assert not moved.is_set() and pipeline.engine.horizon_limit != 123.0
    setter.join(timeout=5)
    assert moved.is_set() and pipeline.engine.horizon_limit == 123.0


def test_no_new_records_are_taken_while_earlier_effects_wait_for_the_store(tmp_path: Path) -> None:
    store = FlakyStore(open_store(f"sqlite:///{tmp_path}/p.db"))
    pipeline = build_pipeline(Settings(), store)  # type: ignore[arg-type]
    store.down = True
    with pytest.raises(StoreUnavailable):
        pipeline.ingest_records([deploy(1)])
    with pytest.raises(StoreUnavailable):
        pipeline.ingest_records([deploy(2)])  # refused before the engine saw it: the caller retries it
    store.down = False
    pipeline.ingest_records([deploy(2)])  # the retry: d1 is written first, then d2, each once
    assert [d.id for w in store.writes for d in w.deploys] == ["d1", "d2"]
    store.inner.close()


@pytest.mark.parametrize("judge", ["counterfactual", "before_after", "kayenta"])
def test_the_builder_asks_the_judge_the_settings_name(judge: str, tmp_path: Path) -> None:
    settings = Settings.from_env({"AIOPS_JUDGE": judge, "AIOPS_ANALYSIS_WINDOW_S": "900", "AIOPS_FLEET_CONTROL": "off"})
    store = open_store(f"sqlite:///{tmp_path}/a.db")
    metrics = Metrics(CollectorRegistry())
    pipeline = build_pipeline(settings, store, metrics)
    assert pipeline.engine.judge.name == judge
    assert pipeline.engine.config == settings.engine and pipeline.engine.config.analysis_window == 900
    assert pipeline.store is store and pipeline.metrics is metrics
    assert pipeline.engine.calibration == {}  # loaded from the store by refresh_calibration, not here
    store.close()


@pytest.mark.parametrize("env", [{"AIOPS_MULTIVARIATE": "on"}, {"AIOPS_SERVICE_JUDGE": "isolation_forest"}])
def test_the_builder_hands_the_engine_the_service_judge_the_settings_name(env: dict[str, str]) -> None:
    engine = build_engine(Settings.from_env(env))
    assert engine.service_judge is not None and engine.service_judge.name == "isolation_forest"
    assert engine.judge.name == "counterfactual" and build_engine(Settings()).service_judge is None


def test_a_rebuilt_engine_keeps_the_calibration_it_is_given() -> None:
    bars = {("api", "latency_ms"): 0.2}
    engine = build_engine(Settings(), calibration=bars)
    assert engine.calibration == bars and engine.calibration is not bars  # a copy: the old engine's may change
    assert engine.judge.name == "counterfactual" and build_engine(Settings()).calibration == {}


def test_history_footprint_is_exported_as_gauges() -> None:
    from prometheus_client import generate_latest

    from aiops.metrics import Metrics
    from aiops.model import MetricSample

    metrics = Metrics()
    pipeline = build_pipeline(Settings(), None, metrics)
    pipeline.ingest_records([MetricSample(svc, "latency", float(t), 1.0) for svc in ("a", "b") for t in range(10)])
    text = generate_latest(metrics.registry).decode()
    assert "aiops_history_series 2.0" in text
    assert "aiops_history_samples 20.0" in text
    size = next(float(line.split()[1]) for line in text.splitlines() if line.startswith("aiops_history_bytes "))
    assert size >= 20 * 16  # two C doubles a sample, at least

"""Which way is worse (aiops.direction): one table per rule, and the callers that must agree with it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from aiops.config import ConfigError, Settings
from aiops.direction import (
    alternative,
    default_direction,
    is_worse,
    metric_direction,
    parse_overrides,
    sides,
    toward_worse,
    worse_side,
)
from aiops.model import Direction

UP, DOWN, BOTH = Direction.UP_IS_WORSE, Direction.DOWN_IS_WORSE, Direction.BOTH


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        ("http_request_duration_seconds_p99", UP),
        ("p99_latency_ms", UP),
        ("http_errors_rate", UP),
        ("process_cpu_usage_cores", UP),
        ("jvm_heap_used_bytes", UP),
        ("kafka_consumer_lag", UP),
        ("cache_miss_total", UP),
        ("http_requests_per_second", DOWN),  # "second" is no latency: the down-words are read first
        ("orders_per_minute", DOWN),
        ("checkout_success_ratio", DOWN),
        ("cache_hit_ratio", DOWN),
        ("ELB_Throughput", DOWN),  # any case
        ("temperature_celsius", BOTH),
        ("mystery", BOTH),
        ("", BOTH),
    ],
)
def test_default_direction_is_read_from_the_name(metric: str, expected: Direction) -> None:
    assert default_direction(metric) is expected
    assert metric_direction(metric) is expected


@pytest.mark.parametrize(
    ("metric", "overrides", "expected"),
    [
        ("queue_depth", {"queue_depth": DOWN}, DOWN),  # the configured way wins over the name's
        ("mystery", {"mystery": UP}, UP),
        ("p99_latency_ms", {"p99_latency_ms": BOTH}, BOTH),
        ("p99_latency_ms", {"p99_latency": DOWN}, UP),  # exact names only, no prefix match
        ("p99_latency_ms", {}, UP),
        ("p99_latency_ms", None, UP),
    ],
)
def test_a_configured_direction_overrides_the_name(
    metric: str, overrides: dict[str, Direction] | None, expected: Direction
) -> None:
    assert metric_direction(metric, overrides) is expected


@pytest.mark.parametrize(
    ("direction", "change", "worse", "toward", "side"),
    [
        (UP, 0.3, True, 0.3, 1.0),
        (UP, -0.3, False, -0.3, 1.0),
        (UP, 0.0, False, 0.0, 1.0),
        (DOWN, 0.3, False, -0.3, -1.0),
        (DOWN, -0.3, True, 0.3, -1.0),
        (DOWN, 0.0, False, -0.0, -1.0),
        # Both ways worse: a fall counts as much as a rise (judge.py and engine.py once counted a rise only).
        (BOTH, 0.3, True, 0.3, 1.0),
        (BOTH, -0.3, True, 0.3, -1.0),
        (BOTH, 0.0, False, 0.0, 0.0),
        (UP, math.inf, True, math.inf, 1.0),
        (DOWN, -math.inf, True, math.inf, -1.0),
    ],
)
def test_which_signed_change_is_worse(
    direction: Direction, change: float, worse: bool, toward: float, side: float
) -> None:
    assert is_worse(direction, change) is worse
    assert toward_worse(direction, change) == toward
    assert worse_side(direction, change) == side


@pytest.mark.parametrize("direction", list(Direction))
def test_a_missing_change_is_never_worse(direction: Direction) -> None:
    assert not is_worse(direction, math.nan)


def test_arrays_are_oriented_elementwise_as_floats_are() -> None:
    z = np.array([-2.0, -0.5, 0.0, 0.5, 2.0])
    for direction in Direction:
        got = toward_worse(direction, z)
        assert got.tolist() == [toward_worse(direction, float(v)) for v in z], direction
    assert toward_worse(BOTH, z).tolist() == [2.0, 0.5, 0.0, 0.5, 2.0]


@pytest.mark.parametrize(
    ("direction", "test_alternative", "tails"),
    [(UP, "greater", 1), (DOWN, "less", 1), (BOTH, "two-sided", 2)],
)
def test_a_test_for_worse_looks_the_worse_way(direction: Direction, test_alternative: str, tails: int) -> None:
    assert alternative(direction) == test_alternative
    assert sides(direction) == tails


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", {}),
        ("queue_depth=down", {"queue_depth": DOWN}),
        (" a = up , b=both,,", {"a": UP, "b": BOTH}),
        ("a=up,a=down", {"a": DOWN}),  # the last entry for a metric wins
    ],
)
def test_overrides_are_parsed_from_the_setting(text: str, expected: dict[str, Direction]) -> None:
    assert parse_overrides(text) == expected


@pytest.mark.parametrize("text", ["latency=sideways", "latency", "latency=UP", "a=up,b"])
def test_a_malformed_override_names_its_entry(text: str) -> None:
    with pytest.raises(ValueError, match="must be metric=up\\|down\\|both"):
        parse_overrides(text)
    with pytest.raises(ConfigError, match="AIOPS_METRIC_DIRECTIONS"):
        Settings.from_env({"AIOPS_METRIC_DIRECTIONS": text})


def test_the_engine_judges_each_metric_the_configured_way() -> None:
    from fleets import make_engine

    from aiops.engine import EngineConfig
    from aiops.model import MetricSample

    engine = make_engine(EngineConfig(directions={"queue_depth": DOWN}))
    engine.process(
        [MetricSample("api", m, t, 1.0) for m in ("queue_depth", "p99_latency_ms", "mystery") for t in (0.0, 30.0)]
    )
    seen = {
        m: engine.judge_input("api", m, 30.0, 60.0, final=True).direction
        for m in ("queue_depth", "p99_latency_ms", "mystery")
    }
    assert seen == {"queue_depth": DOWN, "p99_latency_ms": UP, "mystery": BOTH}

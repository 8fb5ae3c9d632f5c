"""Streaming detectors behind ``aiops score``: shape novelty, the ensemble, the streaming contract."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiops.detectors.streaming import (
    Cusum,
    Ensemble,
    EwmaZ,
    RangeBreak,
    RobustZ,
    ScaleShift,
    SeasonalResidual,
    ShapeNovelty,
    StlResidual,
    daily_period,
    default_ensemble,
)
from aiops.eval.scoring import score_series


def _nearest_shape_distance(history: list[float], x: float, length: int, keep: int) -> float:
    """Brute force: the latest ``length`` points (ending with x) against every earlier shape that
    does not overlap them, over the last ``keep`` points held."""
    held = history[-keep:]
    current = [*held[len(held) - length + 1 :], x] if length > 1 else [x]
    past = held[: len(held) - length + 1]
    best = math.inf
    for start in range(len(past) - length + 1):
        shape = past[start : start + length]
        best = min(best, sum((a - b) ** 2 for a, b in zip(shape, current, strict=True)))
    return math.sqrt(best)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-100, 100), min_size=5, max_size=200),
    st.integers(1, 4),
    st.integers(3, 40),
)
def test_shape_novelty_equals_brute_force_through_buffer_wraps(xs: list[float], length: int, history: int) -> None:
    detector = ShapeNovelty(length=length, history=history, warmup=0)
    seen: list[float] = []
    for x in xs:
        stat = detector._stat(x)
        if len(seen) >= 2 * length:
            expected = _nearest_shape_distance(seen, x, length, detector._keep)
            assert stat == pytest.approx(expected, rel=1e-9, abs=1e-9)
        else:
            assert math.isnan(stat)
        detector.learn_one(x)
        seen.append(x)


def test_shape_novelty_tells_a_recurring_spike_from_a_new_one() -> None:
    rng = np.random.default_rng(7)
    xs = np.tile([1.0] * 47 + [6.0], 60) + rng.normal(0, 0.05, 48 * 60)  # a spike every "day"
    xs[2800] = 6.0  # the usual spike at an unusual time: its shape was seen
    xs[2830] = 11.0  # twice as high as ever: new
    scores = ShapeNovelty().score_many(xs)
    recurring = scores[2831 + 16]  # the next regular spike (rows 47 + 48k)
    assert scores[2830] > 0.5
    assert recurring < 0.3
    assert scores[2830] > 3 * max(recurring, scores[2800])


def test_shape_novelty_rejects_a_meaningless_length() -> None:
    with pytest.raises(ValueError, match="length"):
        ShapeNovelty(length=0)


@pytest.mark.parametrize(
    "make",
    [
        lambda: RobustZ(window=50),
        lambda: EwmaZ(),
        lambda: Cusum(window=80),
        lambda: ScaleShift(long=100),
        lambda: SeasonalResidual(period=24),
        lambda: ShapeNovelty(history=200),
        lambda: StlResidual(period=24),
    ],
)
def test_every_detector_scores_before_it_learns(make: object) -> None:
    """The score of row i depends on rows 0..i only: scoring a prefix gives the same numbers."""
    rng = np.random.default_rng(3)
    xs = 10 + np.sin(np.arange(400) / 24 * 2 * np.pi) + rng.normal(0, 0.2, 400)
    xs[300:] += 3.0
    full = make().score_many(xs)  # type: ignore[operator]
    prefix = make().score_many(xs[:320])  # type: ignore[operator]
    assert np.array_equal(full[:320], prefix)
    assert np.all((full >= 0) & (full <= 1))
    assert full[300:320].max() > np.percentile(full[:290], 99)  # the step stands out


def test_stl_residual_catches_a_daily_shape_that_breaks_while_the_level_holds() -> None:
    """The cycle flips (peak where the trough was) at the same mean: a level detector sees nothing
    unusual, STL's forecast of the seasonal shape is far off."""
    rng = np.random.default_rng(5)
    period = 24
    t = np.arange(period * 12)
    xs = 10 + 2 * np.sin(t / period * 2 * np.pi) + rng.normal(0, 0.1, len(t))
    flip = period * 10
    xs[flip:] = 10 - 2 * np.sin(t[flip:] / period * 2 * np.pi) + rng.normal(0, 0.1, len(t) - flip)
    scores = StlResidual(period=period).score_many(xs)
    assert np.isnan(scores).sum() == 0 and np.all((scores >= 0) & (scores <= 1))
    assert scores[flip : flip + period].max() > 0.5
    assert scores[flip : flip + period].max() > np.percentile(scores[period * 4 : flip], 99)


class _Fixed(RobustZ):
    """A member with a fixed score, ready or still warming up."""

    def __init__(self, score: float, ready: bool = True) -> None:
        super().__init__()
        self.fixed = score
        self.is_ready = ready

    @property
    def ready(self) -> bool:
        return self.is_ready

    def score_one(self, x: float) -> float:
        return self.fixed


def test_ensemble_averages_the_value_blend_with_the_novelty() -> None:
    ensemble = Ensemble([_Fixed(0.2), _Fixed(0.6)], novelty=_Fixed(1.0), refractory=1)
    value_blend = 0.5 * 0.6 + 0.5 * 0.4
    assert ensemble.score_one(0.0) == pytest.approx(0.5 * value_blend + 0.5 * 1.0)
    assert Ensemble([_Fixed(0.2), _Fixed(0.6)], refractory=1).score_one(0.0) == pytest.approx(value_blend)
    with pytest.raises(ValueError, match="members"):
        Ensemble([])


def test_members_in_warm_up_do_not_dilute_the_blend() -> None:
    warming = Ensemble([_Fixed(0.6), _Fixed(0.0, ready=False)], refractory=1)
    assert warming.score_one(0.0) == pytest.approx(0.6)  # the ready member alone, not (0.6 + 0) / 2
    assert Ensemble([_Fixed(0.0, ready=False)], refractory=1).score_one(0.0) == 0.0


def test_a_range_break_adds_its_weight_to_the_blend() -> None:
    breaker = RangeBreak(memory=10, tolerance=0.0, warmup=1)
    ensemble = Ensemble([_Fixed(0.3)], novelty=_Fixed(0.1), range_break=breaker, range_weight=0.1, refractory=1)
    ensemble.learn_one(5.0)
    ensemble.learn_one(6.0)
    assert ensemble.score_one(5.5) == pytest.approx(0.5 * 0.3 + 0.5 * 0.1)  # inside the range
    ensemble.learn_one(5.5)
    assert ensemble.score_one(7.0) == pytest.approx(0.5 * 0.3 + 0.5 * 0.1 + 0.1)  # beyond it
    capped = Ensemble([_Fixed(1.0)], novelty=_Fixed(1.0), range_break=RangeBreak(warmup=0), refractory=1)
    capped.learn_one(1.0)
    capped.learn_one(2.0)
    assert capped.score_one(9.0) == 1.0


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.floats(-1e6, 1e6) | st.just(float("nan")), min_size=1, max_size=300),
    st.integers(1, 40),
    st.sampled_from([0.0, 0.025, 0.5]),
    st.integers(0, 5),
)
def test_range_break_equals_the_brute_force_range(xs: list[float], memory: int, tolerance: float, warmup: int) -> None:
    """Against min/max of the last ``memory`` finite values, through evictions and gaps."""
    detector = RangeBreak(memory=memory, tolerance=tolerance, warmup=warmup)
    seen: list[float] = []
    for x in xs:
        score = detector.score_one(x)
        if math.isfinite(x) and len(seen) >= warmup and seen:
            kept = seen[-memory:]
            margin = (max(kept) - min(kept)) * tolerance
            assert score == (1.0 if x > max(kept) + margin or x < min(kept) - margin else 0.0)
        else:
            assert score == 0.0
        detector.learn_one(x)
        if math.isfinite(x):
            seen.append(x)


def test_range_break_rejects_meaningless_settings() -> None:
    with pytest.raises(ValueError, match="memory"):
        RangeBreak(memory=0)
    with pytest.raises(ValueError, match="tolerance"):
        RangeBreak(tolerance=-0.1)


def test_the_daily_period_is_read_from_the_first_rows_only() -> None:
    five_minutes = np.arange(0, 86400 * 3, 300.0)
    assert daily_period(five_minutes) == 288
    assert daily_period(five_minutes[:25]) == 288  # a series shorter than a day still gets its period
    irregular_later = np.concatenate([five_minutes[:20], five_minutes[20] + np.arange(1000) * 3600.0])
    assert daily_period(irregular_later) == 288
    assert daily_period(np.arange(0, 86400 * 30, 86400.0)) is None
    assert daily_period(np.array([0.0, 300.0])) is None


def test_aiops_scores_look_at_no_later_row() -> None:
    """The contract of ``aiops score``: scoring a prefix of the file gives the prefix of the scores,
    timestamps included (the period is chosen from the first rows, the range from past ones)."""
    rng = np.random.default_rng(11)
    epoch = np.arange(900) * 300.0
    values = 50 + 10 * np.sin(np.arange(900) / 288 * 2 * np.pi) + rng.normal(0, 1, 900)
    values[700] = 120.0  # beyond the range: the range break fires
    full = score_series(epoch, values)
    for cut in (40, 150, 320, 500, 650, 701):
        assert np.array_equal(score_series(epoch[:cut], values[:cut]), full[:cut])
    assert full[700] == full.max() and full[700] > 0.5


def test_refractory_period_makes_one_alarm_per_episode() -> None:
    rng = np.random.default_rng(5)
    xs = rng.normal(0, 1, 1500)
    xs[1200:1210] += 12.0  # one episode, ten odd points
    scores = default_ensemble(np.arange(1500) * 300.0).score_many(xs)
    alarms = np.flatnonzero(scores[1195:1300] > 0.3) + 1195
    assert len(alarms) >= 1 and alarms[0] in range(1200, 1203)
    assert len(alarms) <= 3  # later points of the same episode only alarm when they beat the first


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from([0.0, 0.0, 0.0, 0.5, 1.0, 3.0]) | st.floats(0, 10), min_size=50, max_size=400),
    st.lists(st.floats(0, 50), min_size=2, max_size=20),
)
def test_calibrated_score_grows_with_the_statistic_even_with_ties(past: list[float], probes: list[float]) -> None:
    from aiops.detectors.streaming import _Calibrator

    cal = _Calibrator()
    for v in past:
        cal.learn(v)
    scores = [cal.score(x) for x in sorted(probes)]
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert all(a <= b + 1e-12 for a, b in itertools.pairwise(scores))

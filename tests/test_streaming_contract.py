"""The contract every streaming detector keeps (river's way: one suite over every detector).

Whatever a detector measures, ``aiops score`` and the ensemble rely on this: the
:class:`~aiops.detectors.base.StreamingDetector` protocol; scores in [0, 1] that depend on the input
alone (same series, same scores; a pickled snapshot goes on as the original does); 0 during
warm-up and for a missing value, which is not learnt; an empty series gives no scores; stationary
noise rarely reaches the alarm level; a big step does, at once.

A detector added to ``detectors/streaming.py`` fails
:func:`test_every_streaming_detector_is_under_contract` until it has a row in ``DETECTORS``.
"""

from __future__ import annotations

import inspect
import math
import pickle
from collections.abc import Callable

import numpy as np
import pytest

from aiops.detectors import streaming
from aiops.detectors.base import StreamingDetector
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
)

# Windows small enough for series of a thousand points; the defaults are the same code.
DETECTORS: dict[type, Callable[[], StreamingDetector]] = {
    RobustZ: lambda: RobustZ(window=100),
    EwmaZ: lambda: EwmaZ(),
    Cusum: lambda: Cusum(window=200),
    SeasonalResidual: lambda: SeasonalResidual(period=24),
    StlResidual: lambda: StlResidual(period=24),
    ScaleShift: lambda: ScaleShift(long=200),
    ShapeNovelty: lambda: ShapeNovelty(history=400),
    RangeBreak: lambda: RangeBreak(memory=400, warmup=50),
    Ensemble: lambda: Ensemble(
        [RobustZ(window=100), Cusum(window=200)], novelty=ShapeNovelty(history=400), range_break=RangeBreak(memory=400)
    ),
}

N, STEP_AT, WARM_UP = 1000, 800, 300  # every detector above is past its warm-up by row WARM_UP
# The alarm level: a calibrated score of 0.3 is a tail probability of about 1e-3.6 (-log10 p / 12).
ALARM = 0.3
# Stationary noise may reach it on at most this share of points (a range break fires on each new
# record, and records keep coming at a rate of about 2 / rows remembered).
FALSE_ALARM_RATE = 0.01


def noise(seed: int) -> tuple[np.ndarray, float]:
    """Stationary noise and its sigma: Gaussian for odd seeds, quantised (integers, many ties) for even."""
    rng = np.random.default_rng(seed)
    if seed % 2:
        return rng.normal(100.0, 2.0, N), 2.0
    return np.round(rng.normal(20.0, 1.5, N)), 1.5


@pytest.fixture(params=list(DETECTORS), ids=lambda cls: cls.__name__)
def make(request: pytest.FixtureRequest) -> Callable[[], StreamingDetector]:
    return DETECTORS[request.param]


def test_every_streaming_detector_is_under_contract() -> None:
    public = {
        cls
        for name, cls in inspect.getmembers(streaming, inspect.isclass)
        if cls.__module__ == streaming.__name__
        and not name.startswith("_")
        and all(callable(getattr(cls, m, None)) for m in ("learn_one", "score_one", "score_many"))
    }
    assert public == set(DETECTORS)


def test_implements_the_protocol_under_a_name_of_its_own(make: Callable[[], StreamingDetector]) -> None:
    detector = make()
    assert isinstance(detector, StreamingDetector)
    names = [f().name for f in DETECTORS.values()]
    assert detector.name and names.count(detector.name) == 1


def test_warm_up_scores_zero_instead_of_raising(make: Callable[[], StreamingDetector]) -> None:
    detector = make()
    assert detector.score_one(5.0) == 0.0  # before anything was learnt
    assert make().score_many(noise(1)[0][:20]).tolist() == [0.0] * 20


def test_empty_input_gives_no_scores(make: Callable[[], StreamingDetector]) -> None:
    for empty in ([], np.empty(0)):
        scores = make().score_many(empty)  # type: ignore[arg-type]
        assert scores.shape == (0,) and scores.dtype == np.float64


def stepped(seed: int) -> np.ndarray:
    values, sigma = noise(seed)
    values[STEP_AT:] += 10 * sigma
    return values


def test_same_input_same_scores(make: Callable[[], StreamingDetector]) -> None:
    """Pure: scores depend on the series alone, and score_many is score_one then learn_one per point."""
    xs = stepped(1)
    first = make().score_many(xs)
    assert np.array_equal(first, make().score_many(xs))
    one_by_one = make()
    looped = []
    for x in xs.tolist():
        looped.append(one_by_one.score_one(x))
        one_by_one.learn_one(x)
    assert np.array_equal(first, np.array(looped))
    assert np.all(np.isfinite(first)) and np.all((first >= 0.0) & (first <= 1.0))
    assert first.max() > 0.0  # not a detector that says nothing


def test_a_snapshot_goes_on_as_the_original_does(make: Callable[[], StreamingDetector]) -> None:
    """Its state is plain data: pickled mid-series, the copy scores the rest exactly as the original."""
    xs = stepped(3)
    original = make()
    original.score_many(xs[:600])
    copy = pickle.loads(pickle.dumps(original))
    assert np.array_equal(copy.score_many(xs[600:]), original.score_many(xs[600:]))


def test_a_missing_value_scores_zero_and_is_not_learnt(make: Callable[[], StreamingDetector]) -> None:
    xs = stepped(5)
    gaps = [350, 351, 500, STEP_AT + 2]
    with_gaps = np.insert(xs, gaps, [math.nan, math.inf, math.nan, -math.inf])
    scores = make().score_many(with_gaps)
    finite = np.isfinite(with_gaps)
    assert scores[~finite].tolist() == [0.0] * 4
    assert np.array_equal(scores[finite], make().score_many(xs))


@pytest.mark.parametrize("seed", range(4))
def test_stationary_noise_rarely_alarms(make: Callable[[], StreamingDetector], seed: int) -> None:
    scores = make().score_many(noise(seed)[0])[WARM_UP:]
    assert (scores >= ALARM).mean() <= FALSE_ALARM_RATE


@pytest.mark.parametrize("seed", range(4))
def test_a_big_step_alarms_at_once(make: Callable[[], StreamingDetector], seed: int) -> None:
    """A 10-sigma step: an alarm within 10 points, above 99 % of what the noise before it scored."""
    scores = make().score_many(stepped(seed))
    at_step = scores[STEP_AT : STEP_AT + 10].max()
    assert at_step >= ALARM
    assert at_step > np.quantile(scores[WARM_UP:STEP_AT], 0.99)

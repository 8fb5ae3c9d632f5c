"""Streaming detectors: each learns a series one point at a time and says how unusual the next is.

Every detector here turns a raw statistic into a score in [0, 1] the same way: by its rank among
the statistic's own past values (a calibrated tail probability, ``-log10 p`` scaled), so detectors
of very different kinds are comparable and no threshold is tied to one series' units. During
warm-up a detector returns 0; a missing value (NaN) scores 0 and is not learnt.

- :class:`RobustZ` median/MAD distance from a trailing window: spikes and dips.
- :class:`EwmaZ`: distance from an exponentially weighted mean, in EW standard deviations.
- :class:`Cusum`: two-sided CUSUM on robust-standardised values: level shifts too small for a spike.
- :class:`SeasonalResidual`: distance from the same time on earlier periods (days), then robust z:
  a daily pattern that breaks.
- :class:`ScaleShift`: short-term vs long-term robust spread: volatility and spike density changes.
- :class:`ShapeNovelty`: distance of the latest few points' shape to the nearest shape in a long
  history: a pattern never seen before, as opposed to one that recurs (a nightly cron spike).
- :class:`RangeBreak`: a value beyond everything the series did recently (not calibrated: 0 or 1).
- :class:`Ensemble`: the value detectors' blend (half their maximum, half their mean) averaged with
  the shape novelty, plus a step for a range break, with a refractory period so one episode
  yields one alarm, not a hundred.

``tests/test_streaming_contract.py`` runs one contract over every detector here (pure, snapshotable,
0 in warm-up and for a gap, quiet on stationary noise, alarmed by a big step): a new detector gets a
row there, and is checked the day it exists.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> xs = rng.normal(10, 1, 600)
>>> xs[500] = 30.0
>>> scores = RobustZ(window=100).score_many(xs)
>>> int(np.argmax(scores)), bool(scores[500] > 0.8)
(500, True)
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right, insort
from collections import deque
from collections.abc import Sequence

import numpy as np

from aiops.detectors.base import FloatArray
from aiops.detectors.robust import center_scale


class _Calibrator:
    """How surprising a statistic is among its own past values, as a score in [0, 1].

    Below the 95th percentile of the past, the empirical tail probability; above it, an
    exponential tail fitted to the values strictly above that percentile (peaks over threshold),
    so that values beyond anything seen so far are still ordered by how far beyond they are.
    Score = -log10(p) / 12.

    Ties matter: on a quantised series most statistics can be equal (a shape distance of exactly 0
    when values repeat), so fewer than 5 % of the past may lie above the percentile. The tail's
    weight is the share that does and its scale their mean excess (counting the ties at the
    percentile in would overstate the tail near it and shrink its scale far out). When nothing in
    the past lies above the percentile, anything beyond it gets the floor p = 1 / (n + 1).

    >>> cal = _Calibrator()
    >>> for v in [0.0] * 980 + [1.0, 2.0] * 10:
    ...     cal.learn(v)
    >>> cal.score(0.0) == 0.0, 0.0 < cal.score(1.0) < cal.score(4.0) < cal.score(9.0) < 1.0
    (True, True)
    >>> round(cal.score(4.0), 2)  # 20 past values above 0, mean excess 1.5: p = 0.02 * exp(-4 / 1.5)
    0.24
    """

    __slots__ = ("_fifo", "_sorted", "capacity", "min_history")

    TAIL = 0.05
    SCALE = 12.0

    def __init__(self, capacity: int = 4000, min_history: int = 50) -> None:
        self.capacity = capacity
        self.min_history = min_history
        self._sorted: list[float] = []
        self._fifo: deque[float] = deque()

    def score(self, stat: float) -> float:
        ordered = self._sorted
        n = len(ordered)
        if n < self.min_history or not math.isfinite(stat):
            return 0.0
        cut = int(n * (1.0 - self.TAIL))
        u = ordered[cut]
        if stat <= u:
            p = (n - bisect_left(ordered, stat) + 1) / (n + 1)
        else:
            above = bisect_right(ordered, u, cut)
            k = n - above  # past values strictly above the threshold
            excess = sum(ordered[above:]) / k - u if k else 0.0
            p = (k / n) * math.exp(-(stat - u) / excess) if excess > 0 else 1.0 / (n + 1)
            p = max(p, 1e-300)
        return min(1.0, -math.log10(p) / self.SCALE)

    def __len__(self) -> int:
        return len(self._fifo)

    def learn(self, stat: float) -> None:
        if not math.isfinite(stat):
            return
        insort(self._sorted, stat)
        self._fifo.append(stat)
        if len(self._fifo) > self.capacity:
            old = self._fifo.popleft()
            del self._sorted[bisect_left(self._sorted, old)]


class _Base:
    """score_one/learn_one/score_many around a raw statistic ``_stat`` and a calibrator."""

    name = "base"

    def __init__(self) -> None:
        self._cal = _Calibrator()
        self._pending: float | None = None

    def _stat(self, x: float) -> float:
        raise NotImplementedError

    def _update(self, x: float) -> None:
        raise NotImplementedError

    def score_one(self, x: float) -> float:
        if not math.isfinite(x):  # a gap (NaN): nothing to score, and nothing learnt from it
            self._pending = None
            return 0.0
        self._pending = self._stat(x)
        return self._cal.score(self._pending)

    def learn_one(self, x: float) -> None:
        if not math.isfinite(x):  # one missing value must not poison a window for hundreds of rows
            return
        stat = self._pending if self._pending is not None else self._stat(x)
        self._pending = None
        self._cal.learn(stat)
        self._update(x)

    @property
    def ready(self) -> bool:
        """Whether the calibrator has seen enough of the statistic to score (past warm-up)."""
        return len(self._cal) >= self._cal.min_history

    def score_many(self, xs: Sequence[float] | FloatArray) -> FloatArray:
        return score_then_learn(self, xs)


def score_then_learn(detector: _Base | RangeBreak | Ensemble, xs: Sequence[float] | FloatArray) -> FloatArray:
    """Score each point before learning it: the streaming contract, over a whole array."""
    out = np.empty(len(xs))
    for i, x in enumerate(np.asarray(xs, dtype=np.float64).tolist()):
        out[i] = detector.score_one(x)
        detector.learn_one(x)
    return out


class _Window:
    """Trailing window with median and MAD-sigma, recomputed lazily."""

    __slots__ = ("_buf", "_cache", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self._buf: deque[float] = deque(maxlen=size)
        self._cache: tuple[float, float] | None = None

    def __len__(self) -> int:
        return len(self._buf)

    def push(self, x: float) -> None:
        self._buf.append(x)
        self._cache = None

    def center_scale(self) -> tuple[float, float]:
        if self._cache is None:
            arr = np.fromiter(self._buf, dtype=np.float64, count=len(self._buf))
            self._cache = center_scale(arr, floor=_quantised_floor)
        return self._cache


def _quantised_floor(center: float, values: FloatArray) -> float:
    """Quantised series (integers, flat stretches) have MAD 0: fall back to a tenth of the spread,
    and on a constant window to a millionth of the level, so the next different value stands out."""
    return max(0.1 * float(np.std(values)), 1e-6 * (abs(center) + 1.0))


class RobustZ(_Base):
    """|x - median| / MAD-sigma over the previous ``window`` points."""

    name = "robust_z"

    def __init__(self, window: int = 300, warmup: int = 30) -> None:
        super().__init__()
        self._win = _Window(window)
        self._warmup = warmup

    def _stat(self, x: float) -> float:
        if len(self._win) < self._warmup:
            return float("nan")
        med, scale = self._win.center_scale()
        return abs(x - med) / scale

    def _update(self, x: float) -> None:
        self._win.push(x)


class EwmaZ(_Base):
    """|x - EW mean| / EW standard deviation (``alpha`` is the weight of the newest point)."""

    name = "ewma_z"

    def __init__(self, alpha: float = 0.02, warmup: int = 30) -> None:
        super().__init__()
        self.alpha = alpha
        self._mean = 0.0
        self._var = 0.0
        self._n = 0
        self._warmup = warmup

    def _stat(self, x: float) -> float:
        if self._n < self._warmup:
            return float("nan")
        return abs(x - self._mean) / math.sqrt(self._var + 1e-12 * (self._mean**2 + 1.0))

    def _update(self, x: float) -> None:
        if self._n == 0:
            self._mean = x
        diff = x - self._mean
        incr = self.alpha * diff
        self._mean += incr
        self._var = (1 - self.alpha) * (self._var + diff * incr)
        self._n += 1


class Cusum(_Base):
    """Two-sided CUSUM of values standardised by a long trailing median/MAD; ``drift`` in sigmas."""

    name = "cusum"

    def __init__(self, window: int = 600, drift: float = 0.5, warmup: int = 60) -> None:
        super().__init__()
        self._win = _Window(window)
        self.drift = drift
        self._warmup = warmup
        self._hi = 0.0
        self._lo = 0.0

    def _z(self, x: float) -> float:
        med, scale = self._win.center_scale()
        return max(-10.0, min(10.0, (x - med) / scale))  # a single spike must not look like a shift

    def _stat(self, x: float) -> float:
        if len(self._win) < self._warmup:
            return float("nan")
        z = self._z(x)
        return max(self._hi + z - self.drift, self._lo - z - self.drift, 0.0)

    def _update(self, x: float) -> None:
        if len(self._win) >= self._warmup:
            z = self._z(x)
            self._hi = max(0.0, self._hi + z - self.drift)
            self._lo = max(0.0, self._lo - z - self.drift)
        self._win.push(x)


class SeasonalResidual(_Base):
    """Robust z of ``x - median(x one period ago, two periods ago, ...)``; 0 until a period has passed."""

    name = "seasonal"

    def __init__(self, period: int, periods: int = 3, window: int = 300, warmup: int = 30) -> None:
        super().__init__()
        self.period = period
        self._history: deque[float] = deque(maxlen=period * periods)
        self.periods = periods
        self._res = _Window(window)
        self._warmup = warmup

    def _residual(self, x: float) -> float | None:
        h = self._history
        if len(h) < self.period:
            return None
        past = [h[len(h) - k * self.period] for k in range(1, self.periods + 1) if len(h) >= k * self.period]
        return x - float(np.median(past))

    def _stat(self, x: float) -> float:
        r = self._residual(x)
        if r is None or len(self._res) < self._warmup:
            return float("nan")
        med, scale = self._res.center_scale()
        return abs(r - med) / scale

    def _update(self, x: float) -> None:
        r = self._residual(x)
        if r is not None:
            self._res.push(r)
        self._history.append(x)


class StlResidual(_Base):
    """Robust z of the distance from an STL forecast (statsmodels), refitted once per period.

    Every ``period`` points, STL (robust LOESS) decomposes the last ``periods`` periods; until the
    next refit, the expected value of a new point is the last trend level plus the seasonal
    component one period earlier. Catches a daily shape that breaks while the level holds.
    """

    name = "stl"

    def __init__(self, period: int, periods: int = 3, window: int = 300, warmup: int = 30) -> None:
        super().__init__()
        self.period = period
        self.periods = periods
        self._history: deque[float] = deque(maxlen=period * periods)
        self._seasonal: FloatArray | None = None
        self._trend = 0.0
        self._since_fit = 0
        self._res = _Window(window)
        self._warmup = warmup

    def _expected(self) -> float | None:
        if self._seasonal is None:
            return None
        return self._trend + float(self._seasonal[self._since_fit % self.period])

    def _stat(self, x: float) -> float:
        expected = self._expected()
        if expected is None or len(self._res) < self._warmup:
            return float("nan")
        med, scale = self._res.center_scale()
        return abs(x - expected - med) / scale

    def _update(self, x: float) -> None:
        expected = self._expected()
        if expected is not None:
            self._res.push(x - expected)
        self._history.append(x)
        self._since_fit += 1
        if len(self._history) >= 2 * self.period and (self._seasonal is None or self._since_fit >= self.period):
            self._fit()

    def _fit(self) -> None:
        from statsmodels.tsa.seasonal import STL

        values = np.fromiter(self._history, dtype=np.float64)
        result = STL(values, period=self.period, robust=True).fit()
        # The seasonal value expected k points after the fit is the one a period before that point.
        self._seasonal = np.asarray(result.seasonal[-self.period :], dtype=np.float64)
        self._trend = float(result.trend[-1])
        self._since_fit = 0


class ScaleShift(_Base):
    """|log(short-window spread / long-window spread)|: the series got noisier or calmer."""

    name = "scale_shift"

    def __init__(self, short: int = 30, long: int = 600, warmup: int = 120) -> None:
        super().__init__()
        self._short: deque[float] = deque(maxlen=short)
        self._long = _Window(long)
        self._warmup = min(warmup, long)  # the long window never holds more than ``long`` points

    def _stat(self, x: float) -> float:
        if len(self._long) < self._warmup or len(self._short) < self._short.maxlen // 2:  # type: ignore[operator]
            return float("nan")
        med, scale = self._long.center_scale()
        recent = np.fromiter(self._short, dtype=np.float64)
        short_scale = float(np.mean(np.abs(np.append(recent, x) - med))) * 1.2533  # mean abs dev -> sigma
        return abs(math.log((short_scale + 1e-12) / scale + 1e-12))

    def _update(self, x: float) -> None:
        self._short.append(x)
        self._long.push(x)


class ShapeNovelty(_Base):
    """Distance from the shape of the latest ``length`` points to its nearest neighbour among the
    shapes of the last ``history`` points (a streaming left matrix profile, in the series' units).

    The value detectors say how far a point is from normal; this one says whether the pattern has
    been seen before. A nightly cron spike is far from the median every night, but it has a close
    match a day earlier; a new spike, a step to a new level or a new rhythm has none. Shapes are
    not z-normalised, so a level the series has never had is novel too. Short shapes (2 points)
    keep the match sensitive to a single odd point and cheap: one vectorised pass over the history.

    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> xs = np.tile([0.0] * 23 + [5.0], 40) + rng.normal(0, 0.05, 960)  # a daily spike, 40 days
    >>> xs[900] = 5.0  # the same spike, at an unusual hour
    >>> xs[940] = 9.0  # a spike never seen before
    >>> scores = ShapeNovelty().score_many(xs)
    >>> bool(scores[940] > 0.5), bool(scores[935] < 0.3)  # the new spike stands out, the nightly one does not
    (True, True)
    """

    name = "shape_novelty"

    def __init__(self, length: int = 2, history: int = 4000, warmup: int = 100) -> None:
        super().__init__()
        if length < 1 or history < 1:
            raise ValueError("length and history: must be at least 1")
        self.length = length
        self.history = history
        self._warmup = warmup
        # The last ``keep`` points, in a buffer twice as long: appends are O(1) amortised.
        self._keep = history + 2 * length
        self._buf = np.empty(2 * self._keep)
        self._start = self._end = 0

    def _stat(self, x: float) -> float:
        m = self.length
        held = self._buf[self._start : self._end]
        n = len(held)
        if n < self._warmup + 2 * m:
            return float("nan")
        current = [*held[n - m + 1 :].tolist(), x]
        # Past shapes end before the current one starts: no trivial match with itself.
        past = held[: n - m + 1]
        count = len(past) - m + 1
        dist = (past[0:count] - current[0]) ** 2
        for j in range(1, m):
            dist += (past[j : j + count] - current[j]) ** 2
        return math.sqrt(float(dist.min()))

    def _update(self, x: float) -> None:
        if self._end == len(self._buf):  # full: move the kept tail to the front
            kept = self._end - self._start
            self._buf[:kept] = self._buf[self._start : self._end]
            self._start, self._end = 0, kept
        self._buf[self._end] = x
        self._end += 1
        if self._end - self._start > self._keep:
            self._start += 1


class RangeBreak:
    """1 when a value lies beyond the range of the last ``memory`` values by more than ``tolerance``
    times that range, else 0 (after ``warmup`` values).

    The calibrated detectors rank a statistic against its own past, so on a series whose past
    held wild swings a new all-time low can look ordinary to every one of them. A value outside
    everything the series has done recently is evidence of its own (Numenta's detector adds the
    same "spatial anomaly" rule to its HTM score). The memory matches what the calibrators
    remember, so a level the series left long ago does not widen the range for ever.

    >>> detector = RangeBreak(memory=100, tolerance=0.05, warmup=10)
    >>> for x in [10.0, 12.0, 11.0, 14.0, 13.0] * 4:
    ...     detector.learn_one(x)
    >>> detector.score_one(14.1), detector.score_one(14.5), detector.score_one(9.5)  # range 10-14: +-0.2
    (0.0, 1.0, 1.0)
    """

    name = "range_break"

    def __init__(self, memory: int = 4000, tolerance: float = 0.025, warmup: int = 100) -> None:
        if memory < 1 or tolerance < 0:
            raise ValueError("memory: must be at least 1; tolerance: must not be negative")
        self.memory = memory
        self.tolerance = tolerance
        self.warmup = warmup
        self._seen = 0
        # Monotonic queues of (row, value): the front is the maximum (minimum) of the memory.
        self._highs: deque[tuple[int, float]] = deque()
        self._lows: deque[tuple[int, float]] = deque()

    def score_one(self, x: float) -> float:
        if not math.isfinite(x) or not self._highs or self._seen < self.warmup:
            return 0.0
        high, low = self._highs[0][1], self._lows[0][1]
        margin = (high - low) * self.tolerance
        return 1.0 if x > high + margin or x < low - margin else 0.0

    def learn_one(self, x: float) -> None:
        if not math.isfinite(x):
            return
        row = self._seen
        self._seen += 1
        for queue, beaten in ((self._highs, x.__ge__), (self._lows, x.__le__)):
            while queue and beaten(queue[-1][1]):
                queue.pop()
            queue.append((row, x))
            if queue[0][0] <= row - self.memory:
                queue.popleft()

    def score_many(self, xs: Sequence[float] | FloatArray) -> FloatArray:
        return score_then_learn(self, xs)


class Ensemble:
    """Blend of calibrated member scores, then a refractory period: an alarm is raised when the
    score beats everything in the last ``refractory`` points, so one episode makes one alarm.

    The value members' blend is half their maximum (one kind of evidence can be enough) and half
    their mean (points where they agree rank above points only one finds odd). With a ``novelty``
    member (:class:`ShapeNovelty`) the score is the average of that blend and the novelty: a
    recurring pattern (far from normal, seen before) ranks below a new one, and a point that is
    both far and new ranks highest. With a ``range_break`` member (:class:`RangeBreak`), a value
    beyond everything remembered adds ``range_weight`` to the score: evidence of its own, which
    the calibrated members understate when the series' own past was already wild.

    >>> import numpy as np
    >>> rng = np.random.default_rng(2)
    >>> xs = rng.normal(20, 1, 1200)
    >>> xs[1000:1005] = 35.0  # one episode of five odd points
    >>> ensemble = Ensemble([RobustZ(), Cusum()], novelty=ShapeNovelty(), range_break=RangeBreak())
    >>> scores = ensemble.score_many(xs)
    >>> bool(scores[1000] > 0.5), int((scores[1001:1100] > scores[1000]).sum())  # one alarm for it
    (True, 0)
    """

    name = "ensemble"

    def __init__(
        self,
        members: Sequence[_Base],
        refractory: int = 100,
        damp: float = 0.0,
        novelty: _Base | None = None,
        range_break: RangeBreak | None = None,
        range_weight: float = 0.1,
    ) -> None:
        if not members:
            raise ValueError("members: at least one detector is needed")
        self.members = list(members)
        self.novelty = novelty
        self.range_break = range_break
        self.range_weight = range_weight
        self.refractory = refractory
        self.damp = damp
        self._recent: deque[float] = deque(maxlen=refractory)

    def score_one(self, x: float) -> float:
        if not math.isfinite(x):
            return 0.0  # a gap: no score, and the refractory period does not move
        # Members still in warm-up say nothing yet: averaging their zeros in would make the score
        # depend on how many members a series happens to have ready (a seasonal one needs a day).
        scores = [m.score_one(x) for m in self.members]
        ready = [s for s, m in zip(scores, self.members, strict=True) if m.ready] or [0.0]
        raw = 0.5 * max(ready) + 0.5 * sum(ready) / len(ready)
        if self.novelty is not None:
            raw = 0.5 * raw + 0.5 * self.novelty.score_one(x)
        if self.range_break is not None:
            raw = min(1.0, raw + self.range_weight * self.range_break.score_one(x))
        previous = max(self._recent, default=0.0)
        self._recent.append(raw)
        return raw if raw > previous else raw * self.damp

    def learn_one(self, x: float) -> None:
        for m in self.members:
            m.learn_one(x)
        if self.novelty is not None:
            self.novelty.learn_one(x)
        if self.range_break is not None:
            self.range_break.learn_one(x)

    def score_many(self, xs: Sequence[float] | FloatArray) -> FloatArray:
        return score_then_learn(self, xs)


PERIOD_ROWS = 20


def daily_period(epoch: FloatArray) -> int | None:
    """Rows per day, read from the first ``PERIOD_ROWS`` timestamps only, when the sampling
    interval is at most 2 hours (a day then has at least 12 rows).

    Only the first rows are read so that no score looks ahead: every member is still in warm-up
    for them (RobustZ needs 30 rows), so their scores do not depend on the choice.

    >>> daily_period(np.arange(0, 86400 * 3, 300.0)), daily_period(np.arange(0, 86400 * 30, 86400.0))
    (288, None)
    """
    head = np.asarray(epoch[:PERIOD_ROWS], dtype=np.float64)
    if len(head) < 3:
        return None
    step = float(np.median(np.diff(head)))
    if step <= 0 or step > 7200:
        return None
    return round(86400.0 / step)


def default_ensemble(epoch: FloatArray) -> Ensemble:
    """The scorer behind ``aiops score``: windows in rows, a daily member when the data is daily."""
    # No EwmaZ here: it measures what RobustZ does (a point's distance from a trailing centre) with
    # a mean and deviation the spikes themselves inflate, and with the shape novelty in the blend
    # a second point-distance member only over-weights spikes (BENCHMARKS.md: NAB ablation).
    members: list[_Base] = [RobustZ(window=300), Cusum(window=600), ScaleShift()]
    period = daily_period(epoch)
    if period is not None:
        members.append(SeasonalResidual(period=period))
    # The shape history and the remembered range span what the calibrators remember, no more.
    memory = _Calibrator().capacity
    return Ensemble(
        members,
        novelty=ShapeNovelty(length=2, history=memory),
        range_break=RangeBreak(memory=memory),
    )

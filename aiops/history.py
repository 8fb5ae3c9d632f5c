"""Bounded, time-sorted history of one series, cheap to append in order and to slice by time.

Samples usually arrive in order, so the common path is two array appends; a late sample is inserted
at its place. An exact duplicate (same time, same value: an at-least-once redelivery) is dropped,
so replaying a record twice does not change any statistic. Samples older than the look-back are
compacted to one a minute, in 8 bytes each (:meth:`SeriesHistory.compact`, :mod:`aiops.compacted`).

>>> h = SeriesHistory()
>>> for ts, v in [(1.0, 10.0), (3.0, 30.0), (2.0, 20.0), (3.0, 30.0)]:
...     _ = h.add(ts, v)
>>> h.window(1.5, 3.0)[1].tolist()
[20.0, 30.0]
"""

from __future__ import annotations

import math
import sys
from array import array
from bisect import bisect_left, bisect_right, insort
from collections.abc import Sequence

import numpy as np

from aiops.compacted import CompactedSamples
from aiops.detectors.base import FloatArray
from aiops.rollups import minute_means, minute_means_each


class SeriesHistory:
    """One series: its recent samples raw, its older ones compacted (:meth:`compact`).

    The recent part is two arrays of C doubles (16 bytes a sample where lists of Python floats take
    64, and a window becomes a numpy array without a copy of every element through Python). The
    older part, one sample a minute, is a :class:`~aiops.compacted.CompactedSamples`: 8 bytes a
    sample. Every compacted sample is at or before ``compacted_until`` and every recent one at or
    after it, so the two read as one sorted series: index ``i`` is the compacted part's ``i`` below
    its length, the recent part's ``i - len(old)`` from there.

    >>> h = SeriesHistory()
    >>> for t in range(0, 600, 30):
    ...     _ = h.add(float(t), t / 30.0)
    >>> h.compact(300.0)  # 0-299 s: one sample a minute
    >>> h.window(120.0, 390.0)[0].tolist()
    [135.0, 195.0, 255.0, 300.0, 330.0, 360.0, 390.0]
    >>> h.window(0.0, 140.0)[1].tolist(), len(h)  # the minutes' mean values
    ([0.5, 2.5, 4.5], 15)
    """

    __slots__ = ("compacted_until", "layout", "old", "recent_ts", "recent_values")

    def __init__(self) -> None:
        self.recent_ts = array("d")
        self.recent_values = array("d")
        self.old = CompactedSamples()
        self.compacted_until = float("-inf")  # samples before this are in ``old`` (see compact)
        # Bumped whenever a sample's index or value changes (a late insert, a trim, a compaction);
        # appends keep every index.
        self.layout = 0

    def __len__(self) -> int:
        return len(self.old) + len(self.recent_ts)

    @property
    def ts(self) -> FloatArray:
        """Every sample's time, oldest first (a copy: for inspection and tests, not the hot path)."""
        n = len(self.old)
        return np.concatenate((self.old.times(0, n), _floats(self.recent_ts[:])))

    @property
    def values(self) -> FloatArray:
        """Every sample's value, in the order of :attr:`ts` (a copy)."""
        n = len(self.old)
        return np.concatenate((self.old.values(0, n), _floats(self.recent_values[:])))

    def nbytes(self) -> int:
        """What the arrays take (allocated buffers included): the ``aiops_history_bytes`` gauge."""
        return sys.getsizeof(self.recent_ts) + sys.getsizeof(self.recent_values) + self.old.nbytes()

    def add(self, ts: float, value: float) -> bool:
        """Insert a sample; False when it is an exact duplicate of one already held."""
        times = self.recent_ts
        if ts > times[-1] if times else ts >= self.compacted_until:  # in order: the common case
            times.append(ts)
            self.recent_values.append(value)
            return True
        if ts < self.compacted_until:  # later than its minute's compaction: a compacted sample of its own
            added = self.old.insert(ts, value)
        else:
            lo = bisect_left(times, ts)
            hi = bisect_right(times, ts, lo)
            added = value not in self.recent_values[lo:hi]
            if added:
                times.insert(hi, ts)
                self.recent_values.insert(hi, value)
        if added:
            self.layout += 1
        return added

    def extend(self, ts: FloatArray, values: FloatArray) -> int:
        """Add samples given in time order, as :meth:`add` one by one would; how many were added.

        When they all come after every sample held (the usual batch: one poll, one hour of a
        backfill), the two arrays grow in one step each; otherwise each goes through :meth:`add`.

        >>> h = SeriesHistory()
        >>> h.extend(np.array([1.0, 2.0]), np.array([5.0, 6.0])), h.extend(np.array([2.0, 3.0]), np.array([6.0, 7.0]))
        (2, 1)
        >>> h.ts.tolist(), h.values.tolist()
        ([1.0, 2.0, 3.0], [5.0, 6.0, 7.0])
        """
        ts = np.ascontiguousarray(ts, dtype=np.float64)
        values = np.ascontiguousarray(values, dtype=np.float64)
        times = self.recent_ts
        if not len(ts):
            return 0
        first = float(ts[0])
        if (first > times[-1] if times else first >= self.compacted_until) and bool(np.all(np.diff(ts) > 0)):
            times.frombytes(ts.tobytes())
            self.recent_values.frombytes(values.tobytes())
            return len(ts)
        return sum(self.add(t, v) for t, v in zip(ts.tolist(), values.tolist(), strict=True))

    def _count_before(self, x: float) -> int:
        """Index of the first sample at or after ``x``."""
        i = bisect_left(self.recent_ts, x)
        # A recent sample before x puts every compacted one before it too.
        return i + len(self.old.ticks) if i else self.old.count_before(x)

    def _count_until(self, x: float) -> int:
        """Index of the first sample after ``x``."""
        i = bisect_right(self.recent_ts, x)
        return i + len(self.old.ticks) if i else self.old.count_until(x)

    def _slice(self, lo: int, hi: int) -> tuple[FloatArray, FloatArray]:
        n = len(self.old.ticks)  # (not len(self.old): a Python-level call, and these run per peer per look)
        if lo >= n:
            return _floats(self.recent_ts[lo - n : hi - n]), _floats(self.recent_values[lo - n : hi - n])
        old, top = self.old, min(hi, n)
        if hi <= n:
            return old.times(lo, top), old.values(lo, top)
        return (
            np.concatenate((old.times(lo, top), _floats(self.recent_ts[: hi - n]))),
            np.concatenate((old.values(lo, top), _floats(self.recent_values[: hi - n]))),
        )

    def values_between(self, lo: int, hi: int) -> Sequence[float]:
        """Values of samples ``lo:hi`` as Python floats (a compacted one: its float32, widened)."""
        n = len(self.old.ticks)
        if lo >= n:
            return self.recent_values[lo - n : hi - n]
        if hi <= n:
            return self.old.vals[lo:hi]
        return [*self.old.vals[lo:], *self.recent_values[: hi - n]]

    def window(self, start: float, end: float) -> tuple[FloatArray, FloatArray]:
        """Samples with start <= ts <= end: a look at checkpoint ``end`` sees the samples of its own second."""
        return self._slice(self._count_before(start), self._count_until(end))

    def window_before(self, start: float, end: float) -> tuple[FloatArray, FloatArray]:
        """Samples with start <= ts < end (the baseline excludes the deploy's own second)."""
        return self._slice(self._count_before(start), self._count_before(end))

    def median(
        self, start: float, end: float, before: bool = False, moving: MovingWindow | None = None
    ) -> tuple[float, int]:
        """Median and count of the samples in [start, end] ([start, end) with ``before``).

        Plain Python on the list slice: for the few hundred points of a window this is several
        times cheaper than building a numpy array first (the control group asks for many). With
        ``moving`` (the same window a look earlier), only the samples that entered or left it move.
        """
        lo = self._count_before(start)
        hi = self._count_before(end) if before else self._count_until(end)
        n = hi - lo
        if n <= 0:
            return float("nan"), 0
        ordered = sorted(self.values_between(lo, hi)) if moving is None else moving.slide(self, lo, hi)
        mid = n // 2
        return (ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2.0), n

    def compact(self, before: float, width: float = 60.0, merge: bool = True) -> None:
        """Samples older than ``before`` become one per ``width`` seconds (their mean time and value),
        held compacted (:class:`~aiops.compacted.CompactedSamples`); without ``merge``, each as it
        is (a series of rollups, one a minute already on a grid of its own: only its 8-byte form).

        Older history is read only as earlier days, in bins of at least a minute (the counterfactual's
        seasonal profile, smoothed over ten): a minute's mean says there what its samples said, in a
        quarter of the memory at 15 s, a half at 30 s, and compacted again to half of that. Each
        minute is merged once, whole (``before`` is rounded down to a minute). A sample arriving
        later than that into a merged minute stays a sample of its own.

        >>> h = SeriesHistory()
        >>> for t in range(0, 240, 30):
        ...     _ = h.add(float(t), float(t))
        >>> h.compact(150.0)
        >>> h.ts.tolist(), h.values.tolist()
        ([15.0, 75.0, 120.0, 150.0, 180.0, 210.0], [15.0, 75.0, 120.0, 150.0, 180.0, 210.0])
        >>> len(h.old), len(h.recent_ts)
        (2, 4)
        """
        if not math.isfinite(before):
            return  # nothing is older than -inf (a consumer that has read nothing yet)
        before = math.floor(before / width) * width
        if before <= self.compacted_until:
            return
        self.compacted_until = before
        hi = bisect_left(self.recent_ts, before)
        if not hi:
            return
        ts, values = _floats(self.recent_ts[:hi]), _floats(self.recent_values[:hi])
        if merge:
            ts, values, _ = minute_means(ts, values, width)
        self.old.extend(ts, values)
        del self.recent_ts[:hi]
        del self.recent_values[:hi]
        self.layout += 1  # merged, and every value moved to float32

    def trim(self, before: float) -> None:
        """Forget samples older than ``before``."""
        cut = self.old.trim(before)
        if not self.old:  # every compacted sample went: recent ones may go too
            raw = bisect_left(self.recent_ts, before)
            if raw:
                del self.recent_ts[:raw]
                del self.recent_values[:raw]
                cut += raw
        if cut:
            self.layout += 1


def _floats(part: array[float]) -> FloatArray:
    """A slice of a history array as a numpy array: it shares the slice's buffer (the slice is already
    a copy, owned by nobody else), so no element passes through Python."""
    return np.frombuffer(part, dtype=np.float64) if len(part) else np.empty(0, dtype=np.float64)


class MovingWindow:
    """The values of a window over one series, kept sorted as the window slides forward in time.

    A look a minute after the last one asks for nearly the same window: a few samples entered it
    (and, for a trailing window, a few left). Updating the sorted list costs a few bisections where
    sorting it again costs the whole window, and the control group asks for one per peer per look.

    >>> h = SeriesHistory()
    >>> for t in range(10):
    ...     _ = h.add(float(t), float(10 - t))
    >>> w = MovingWindow()
    >>> h.median(0.0, 4.0, moving=w), h.median(2.0, 8.0, moving=w)
    ((8.0, 5), (5.0, 7))
    >>> w.values == sorted(h.values[2:9])
    True
    """

    __slots__ = ("hi", "layout", "lo", "series", "values")

    def __init__(self) -> None:
        self.lo = self.hi = 0
        self.layout = -1
        # The series the indices are into: a series evicted and started again is another object,
        # whose layout count starts again too.
        self.series: SeriesHistory | None = None
        self.values: list[float] = []

    def slide(self, series: SeriesHistory, lo: int, hi: int) -> list[float]:
        """The sorted values of ``series.values[lo:hi]``, updated from the last window when it can be."""
        ordered = self.values
        if (
            self.layout != series.layout  # samples moved: the old indices mean nothing now
            or self.series is not series
            or lo < self.lo
            or hi < self.hi
            or lo >= self.hi
            or (lo - self.lo) + (hi - self.hi) > (hi - lo) // 2
        ):
            ordered = self.values = sorted(series.values_between(lo, hi))
        else:
            for value in series.values_between(self.lo, lo):  # left the window
                del ordered[bisect_left(ordered, value)]
            for value in series.values_between(self.hi, hi):  # entered it
                insort(ordered, value)
        self.lo, self.hi, self.layout, self.series = lo, hi, series.layout, series
        return ordered


class FleetHistory:
    """Every series the engine holds and every service's deploy times: what the engine and the
    fleet check both read (the fleet check gets this, not the engine, so neither imports the other).

    >>> fleet = FleetHistory()
    >>> for t in range(5):
    ...     fleet.add_sample("api", "latency", float(t), 10.0 + t)
    >>> fleet.add_deploy("web", 3.0)
    [3.0]
    >>> fleet.median("api", "latency", 1.0, 3.0), fleet.services_with("latency"), fleet.deployed_between("web", 0, 2)
    ((12.0, 3), ['api'], False)
    """

    __slots__ = ("_with", "deploy_times", "metrics_of", "series")

    def __init__(self) -> None:
        self.series: dict[tuple[str, str], SeriesHistory] = {}
        self.metrics_of: dict[str, set[str]] = {}
        self.deploy_times: dict[str, list[float]] = {}
        # services_with's answers: asked for every peer group at every look, they change only when a
        # series starts or is evicted (both clear this).
        self._with: dict[str, list[str]] = {}

    def add_sample(self, service: str, metric: str, ts: float, value: float) -> None:
        series = self.series.get((service, metric))
        if series is None:
            series = self.series[(service, metric)] = SeriesHistory()
            self.metrics_of.setdefault(service, set()).add(metric)
            self._with.clear()
        series.add(ts, value)

    def add_samples(self, service: str, metric: str, ts: FloatArray, values: FloatArray) -> int:
        """Samples of one series in time order, in one step (:meth:`SeriesHistory.extend`)."""
        series = self.series.get((service, metric))
        if series is None:
            series = self.series[(service, metric)] = SeriesHistory()
            self.metrics_of.setdefault(service, set()).add(metric)
            self._with.clear()
        return series.extend(ts, values)

    def add_deploy(self, service: str, ts: float) -> list[float]:
        """Record a deploy time; the service's deploy times, in order."""
        times = self.deploy_times.setdefault(service, [])
        insort(times, ts)
        return times

    def window(
        self, service: str, metric: str, start: float, end: float, before: bool = False
    ) -> tuple[FloatArray, FloatArray]:
        """Samples of one series in [start, end] (or [start, end) with ``before``); empty if unknown."""
        series = self.series.get((service, metric))
        if series is None:
            empty = np.array([], dtype=np.float64)
            return empty, empty
        return series.window_before(start, end) if before else series.window(start, end)

    def median(
        self,
        service: str,
        metric: str,
        start: float,
        end: float,
        before: bool = False,
        moving: MovingWindow | None = None,
    ) -> tuple[float, int]:
        """Median and count of one series over [start, end]; ``moving``: the same window a look earlier."""
        series = self.series.get((service, metric))
        return series.median(start, end, before, moving) if series is not None else (float("nan"), 0)

    def roll_up(self, into: FleetHistory, start: float, end: float) -> int:
        """Add to ``into`` the rollups (:mod:`aiops.rollups`: each minute's mean time and value) of
        every series' samples in [start, end); how many minutes. ``start`` and ``end``: whole minutes.

        >>> fleet, view = FleetHistory(), FleetHistory()
        >>> for t in range(0, 180, 30):
        ...     fleet.add_sample("api", "latency", float(t), float(t))
        >>> fleet.roll_up(view, float("-inf"), 120.0), view.window("api", "latency", 0.0, 200.0)[1].tolist()
        (2, [15.0, 75.0])
        """
        keys, times, values = [], [], []
        for key, series in self.series.items():
            ts, vs = series.window_before(start, end)
            if len(ts):
                keys.append(key)
                times.append(ts)
                values.append(vs)
        added = 0
        for (service, metric), (mean_ts, means) in zip(keys, minute_means_each(times, values), strict=True):
            if len(mean_ts) == 1:  # the usual call: one minute
                into.add_sample(service, metric, mean_ts[0], means[0])
            else:
                into.add_samples(service, metric, np.array(mean_ts), np.array(means))
            added += len(mean_ts)
        return added

    def services_with(self, metric: str) -> list[str]:
        """The services holding ``metric``, sorted (a fresh list: callers may keep or change it)."""
        found = self._with.get(metric)
        if found is None:
            found = self._with[metric] = sorted(s for s, metrics in self.metrics_of.items() if metric in metrics)
        return list(found)

    def deployed_between(self, service: str, start: float, end: float) -> bool:
        times = self.deploy_times.get(service, [])
        i = bisect_left(times, start)
        return i < len(times) and times[i] <= end

    def trim(self, before: float) -> None:
        """Forget samples older than ``before``, and every series left with none: a series that
        went quiet (a service retired, a metric renamed) costs nothing once its retention has passed.

        >>> fleet = FleetHistory()
        >>> fleet.add_sample("old", "latency", 1.0, 2.0)
        >>> fleet.add_sample("api", "latency", 5.0, 2.0)
        >>> fleet.trim(3.0)
        >>> sorted(fleet.series), fleet.services_with("latency")
        ([('api', 'latency')], ['api'])
        """
        idle = []
        for key, series in self.series.items():
            series.trim(before)
            if not len(series):
                idle.append(key)
        if idle:
            self._with.clear()
        for service, metric in idle:
            del self.series[(service, metric)]
            metrics = self.metrics_of[service]
            metrics.discard(metric)
            if not metrics:
                del self.metrics_of[service]

    def trim_deploys(self, before: float) -> None:
        """Forget deploy times older than ``before``, and services left with none: one float per
        deploy would otherwise grow without end in a long-running consumer.

        >>> fleet = FleetHistory()
        >>> for service, ts in [("api", 1.0), ("api", 5.0), ("old", 2.0)]:
        ...     _ = fleet.add_deploy(service, ts)
        >>> fleet.trim_deploys(3.0)
        >>> fleet.deploy_times
        {'api': [5.0]}
        """
        gone = []
        for service, times in self.deploy_times.items():
            cut = bisect_left(times, before)
            if cut == len(times):
                gone.append(service)
            elif cut:
                del times[:cut]
        for service in gone:
            del self.deploy_times[service]

    def footprint(self) -> tuple[int, int, int]:
        """(series, samples, bytes) held: what the history costs, for the gauges.

        >>> fleet = FleetHistory()
        >>> fleet.add_sample("api", "latency", 1.0, 2.0)
        >>> fleet.footprint()[:2]
        (1, 1)
        """
        held = list(self.series.values())  # one step under the GIL: the consumer may be adding series
        samples = sum(len(s) for s in held)
        return len(held), samples, sum(s.nbytes() for s in held)

    def compact(self, before: float, merge: bool = True) -> None:
        """Samples older than ``before`` one per minute in every series (:meth:`SeriesHistory.compact`)."""
        for series in self.series.values():
            series.compact(before, merge=merge)

"""Bounded, time-sorted history of one series, cheap to append in order and to slice by time.

Samples usually arrive in order, so the common path is two list appends; a late sample is inserted
at its place. An exact duplicate (same time, same value: an at-least-once redelivery) is dropped,
so replaying a record twice does not change any statistic.

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

import numpy as np

from aiops.detectors.base import FloatArray


class SeriesHistory:
    """Times and values in two arrays of C doubles: 16 bytes a sample where lists of Python floats
    take 64 (a float object and a pointer each), and a window becomes a numpy array without a copy
    of every element through Python."""

    __slots__ = ("compacted_until", "layout", "ts", "values")

    def __init__(self) -> None:
        self.ts = array("d")
        self.values = array("d")
        self.compacted_until = float("-inf")  # samples before this are one per minute (see compact)
        # Bumped whenever a sample's index changes (a late insert, a trim); appends keep every index.
        self.layout = 0

    def __len__(self) -> int:
        return len(self.ts)

    def add(self, ts: float, value: float) -> bool:
        """Insert a sample; False when it is an exact duplicate of one already held."""
        times = self.ts
        if not times or ts > times[-1]:
            times.append(ts)
            self.values.append(value)
            return True
        lo = bisect_left(times, ts)
        hi = bisect_right(times, ts, lo)
        if value in self.values[lo:hi]:
            return False
        self.layout += 1
        times.insert(hi, ts)
        self.values.insert(hi, value)
        return True

    def window(self, start: float, end: float) -> tuple[FloatArray, FloatArray]:
        """Samples with start <= ts <= end: a look at checkpoint ``end`` sees the samples of its own second."""
        lo = bisect_left(self.ts, start)
        hi = bisect_right(self.ts, end)
        return _floats(self.ts[lo:hi]), _floats(self.values[lo:hi])

    def window_before(self, start: float, end: float) -> tuple[FloatArray, FloatArray]:
        """Samples with start <= ts < end (the baseline excludes the deploy's own second)."""
        lo = bisect_left(self.ts, start)
        hi = bisect_left(self.ts, end)
        return _floats(self.ts[lo:hi]), _floats(self.values[lo:hi])

    def median(
        self, start: float, end: float, before: bool = False, moving: MovingWindow | None = None
    ) -> tuple[float, int]:
        """Median and count of the samples in [start, end] ([start, end) with ``before``).

        Plain Python on the list slice: for the few hundred points of a window this is several
        times cheaper than building a numpy array first (the control group asks for many). With
        ``moving`` (the same window a look earlier), only the samples that entered or left it move.
        """
        lo = bisect_left(self.ts, start)
        hi = bisect_left(self.ts, end) if before else bisect_right(self.ts, end)
        n = hi - lo
        if n <= 0:
            return float("nan"), 0
        ordered = sorted(self.values[lo:hi]) if moving is None else moving.slide(self, lo, hi)
        mid = n // 2
        return (ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2.0), n

    def compact(self, before: float, width: float = 60.0) -> None:
        """Samples older than ``before`` become one per ``width`` seconds: their mean time and value.

        Older history is read only as earlier days, in bins of at least a minute (the counterfactual's
        seasonal profile, smoothed over ten): a minute's mean says there what its samples said, in a
        quarter of the memory at 15 s, a half at 30 s. Each minute is merged once, whole (``before``
        is rounded down to a minute). A sample arriving later than that into a merged minute stays
        a sample of its own.

        >>> h = SeriesHistory()
        >>> for t in range(0, 240, 30):
        ...     _ = h.add(float(t), float(t))
        >>> h.compact(150.0)
        >>> list(h.ts), list(h.values)
        ([15.0, 75.0, 120.0, 150.0, 180.0, 210.0], [15.0, 75.0, 120.0, 150.0, 180.0, 210.0])
        """
        before = math.floor(before / width) * width
        if before <= self.compacted_until:
            return
        lo = bisect_left(self.ts, self.compacted_until)
        hi = bisect_left(self.ts, before)
        self.compacted_until = before
        if hi - lo < 2:
            return
        ts, values = _floats(self.ts[lo:hi]), _floats(self.values[lo:hi])
        starts = np.flatnonzero(np.diff(np.floor(ts / width), prepend=-np.inf))
        if len(starts) == len(ts):
            return  # already one per minute (a slower metric): nothing to merge
        counts = np.diff(np.append(starts, len(ts)))
        self.ts[lo:hi] = array("d", (np.add.reduceat(ts, starts) / counts).tobytes())
        self.values[lo:hi] = array("d", (np.add.reduceat(values, starts) / counts).tobytes())
        self.layout += 1

    def trim(self, before: float) -> None:
        """Forget samples older than ``before``."""
        cut = bisect_left(self.ts, before)
        if cut:
            self.layout += 1
            del self.ts[:cut]
            del self.values[:cut]


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

    __slots__ = ("hi", "layout", "lo", "values")

    def __init__(self) -> None:
        self.lo = self.hi = 0
        self.layout = -1
        self.values: list[float] = []

    def slide(self, series: SeriesHistory, lo: int, hi: int) -> list[float]:
        """The sorted values of ``series.values[lo:hi]``, updated from the last window when it can be."""
        ordered = self.values
        if (
            self.layout != series.layout  # samples moved: the old indices mean nothing now
            or lo < self.lo
            or hi < self.hi
            or lo >= self.hi
            or (lo - self.lo) + (hi - self.hi) > (hi - lo) // 2
        ):
            ordered = self.values = sorted(series.values[lo:hi])
        else:
            values = series.values
            for value in values[self.lo : lo]:  # left the window
                del ordered[bisect_left(ordered, value)]
            for value in values[self.hi : hi]:  # entered it
                insort(ordered, value)
        self.lo, self.hi, self.layout = lo, hi, series.layout
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

    __slots__ = ("deploy_times", "metrics_of", "series")

    def __init__(self) -> None:
        self.series: dict[tuple[str, str], SeriesHistory] = {}
        self.metrics_of: dict[str, set[str]] = {}
        self.deploy_times: dict[str, list[float]] = {}

    def add_sample(self, service: str, metric: str, ts: float, value: float) -> None:
        series = self.series.get((service, metric))
        if series is None:
            series = self.series[(service, metric)] = SeriesHistory()
            self.metrics_of.setdefault(service, set()).add(metric)
        series.add(ts, value)

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

    def services_with(self, metric: str) -> list[str]:
        return sorted(s for s, metrics in self.metrics_of.items() if metric in metrics)

    def deployed_between(self, service: str, start: float, end: float) -> bool:
        times = self.deploy_times.get(service, [])
        i = bisect_left(times, start)
        return i < len(times) and times[i] <= end

    def trim(self, before: float) -> None:
        for series in self.series.values():
            series.trim(before)

    def footprint(self) -> tuple[int, int, int]:
        """(series, samples, bytes) held: what the history costs, for the gauges.

        >>> fleet = FleetHistory()
        >>> fleet.add_sample("api", "latency", 1.0, 2.0)
        >>> fleet.footprint()[:2]
        (1, 1)
        """
        held = list(self.series.values())  # one step under the GIL: the consumer may be adding series
        samples = sum(len(s) for s in held)
        return len(held), samples, sum(sys.getsizeof(s.ts) + sys.getsizeof(s.values) for s in held)

    def compact(self, before: float) -> None:
        """Samples older than ``before`` one per minute in every series (:meth:`SeriesHistory.compact`)."""
        for series in self.series.values():
            series.compact(before)

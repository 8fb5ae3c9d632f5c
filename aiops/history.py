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

from bisect import bisect_left, bisect_right

import numpy as np

from aiops.detectors.base import FloatArray


class SeriesHistory:
    __slots__ = ("ts", "values")

    def __init__(self) -> None:
        self.ts: list[float] = []
        self.values: list[float] = []

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
        times.insert(hi, ts)
        self.values.insert(hi, value)
        return True

    def window(self, start: float, end: float) -> tuple[FloatArray, FloatArray]:
        """Samples with start <= ts <= end: a look at checkpoint ``end`` sees the samples of its own second."""
        lo = bisect_left(self.ts, start)
        hi = bisect_right(self.ts, end)
        return np.array(self.ts[lo:hi], dtype=np.float64), np.array(self.values[lo:hi], dtype=np.float64)

    def window_before(self, start: float, end: float) -> tuple[FloatArray, FloatArray]:
        """Samples with start <= ts < end (the baseline excludes the deploy's own second)."""
        lo = bisect_left(self.ts, start)
        hi = bisect_left(self.ts, end)
        return np.array(self.ts[lo:hi], dtype=np.float64), np.array(self.values[lo:hi], dtype=np.float64)

    def median(self, start: float, end: float, before: bool = False) -> tuple[float, int]:
        """Median and count of the samples in [start, end] ([start, end) with ``before``).

        Plain Python on the list slice: for the few hundred points of a window this is several
        times cheaper than building a numpy array first (the control group asks for many).
        """
        lo = bisect_left(self.ts, start)
        hi = bisect_left(self.ts, end) if before else bisect_right(self.ts, end)
        n = hi - lo
        if n <= 0:
            return float("nan"), 0
        ordered = sorted(self.values[lo:hi])
        mid = n // 2
        return (ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2.0), n

    def trim(self, before: float) -> None:
        """Forget samples older than ``before``."""
        cut = bisect_left(self.ts, before)
        if cut:
            del self.ts[:cut]
            del self.values[:cut]

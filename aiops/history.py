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
        """Samples with start <= ts < end... inclusive of ``end`` (a checkpoint sees its own second)."""
        lo = bisect_left(self.ts, start)
        hi = bisect_right(self.ts, end)
        return np.array(self.ts[lo:hi], dtype=np.float64), np.array(self.values[lo:hi], dtype=np.float64)

    def window_before(self, start: float, end: float) -> tuple[FloatArray, FloatArray]:
        """Samples with start <= ts < end (the baseline excludes the deploy's own second)."""
        lo = bisect_left(self.ts, start)
        hi = bisect_left(self.ts, end)
        return np.array(self.ts[lo:hi], dtype=np.float64), np.array(self.values[lo:hi], dtype=np.float64)

    def trim(self, before: float) -> None:
        """Forget samples older than ``before``."""
        cut = bisect_left(self.ts, before)
        if cut:
            del self.ts[:cut]
            del self.values[:cut]

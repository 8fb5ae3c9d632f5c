"""The compacted (older) part of one series' history: 8 bytes a sample where the recent part takes 16.

A time is held as whole milliseconds since the epoch, as an int32 offset from a per-series origin
(so +-24.8 days around it), and a value as a float32. Why that loses nothing that matters:

- Times. ``ms / 1000`` is computed from the exact integer count of milliseconds, so a time given to
  the millisecond (Prometheus', or whole seconds) comes back as the very float it went in as. A
  minute's mean time is rounded to the millisecond; the mean of n samples taken at whole seconds
  lies a multiple of 1/n s from a whole second, so with n <= 60 the rounding never carries it
  across one: a window with whole-second bounds (deploy times and window lengths in seconds) picks
  the same samples as before.
- Values. A float32 keeps 24 bits: a relative error of at most 6e-8. These samples are read only
  as earlier days, smoothed into a seasonal profile and compared with spreads that are orders of
  magnitude wider (a deploy's effect, the placebo spread); ``benchmarks.history_verdicts`` checks
  that every verdict of the deploy benchmarks stays the same.

>>> old = CompactedSamples()
>>> old.extend(np.array([1_700_000_015.0, 1_700_000_075.5]), np.array([0.25, 0.1]))
>>> old.times(0, 2).tolist(), old.values(0, 2).tolist()
([1700000015.0, 1700000075.5], [0.25, 0.10000000149011612])
>>> old.count_before(1_700_000_075.5), old.count_until(1_700_000_075.5)
(1, 2)
"""

from __future__ import annotations

import math
import sys
from array import array
from bisect import bisect_left, bisect_right

import numpy as np

from aiops.detectors.base import FloatArray

_MAX_TICK = 2**31 - 1
_MIN_TICK = -(2**31)


def to_ms(ts: float) -> int:
    """A time in whole milliseconds since the epoch (nearest).

    >>> to_ms(1_732_872_345.123), to_ms(2.5)
    (1732872345123, 2500)
    """
    return round(ts * 1000.0)


class CompactedSamples:
    """Times (int32 milliseconds from ``origin_ms``) and values (float32), sorted by time.

    Appended to in bulk by compaction (:meth:`extend`, newer than anything held); a sample that
    arrives later than that is inserted at its place (:meth:`insert`). Times that do not fit in
    int32 around the origin move it (:meth:`_rebase`): only a span of more than 49.7 days of
    compacted history cannot be held, and then its oldest samples are dropped.
    """

    __slots__ = ("origin_ms", "ticks", "vals")

    def __init__(self) -> None:
        self.origin_ms = 0  # set by the first extend or insert: the first time, to the millisecond
        self.ticks = array("i")
        self.vals = array("f")

    def __len__(self) -> int:
        return len(self.ticks)

    def nbytes(self) -> int:
        """What the two arrays take (their allocated buffers included)."""
        return sys.getsizeof(self.ticks) + sys.getsizeof(self.vals)

    # --- times -----------------------------------------------------------------------------------

    def time_at(self, tick: int) -> float:
        """The time a tick stands for: one division of an exact integer (the same in numpy, :meth:`times`)."""
        return (self.origin_ms + tick) / 1000

    def _first_tick_at_or_after(self, x: float) -> int:
        """The least tick whose time is >= ``x`` (``time_at`` never decreases as the tick grows)."""
        k = math.ceil(x * 1000.0) - self.origin_ms
        while self.time_at(k - 1) >= x:
            k -= 1
        while self.time_at(k) < x:
            k += 1
        return k

    def _first_tick_after(self, x: float) -> int:
        """The least tick whose time is > ``x``."""
        k = self._first_tick_at_or_after(x)
        while self.time_at(k) <= x:
            k += 1
        return k

    def count_before(self, x: float) -> int:
        """How many samples are at times < ``x`` (bisect_left over the times)."""
        if not self.ticks or not math.isfinite(x * 1000.0):
            return len(self.ticks) if x > 0 else 0
        return bisect_left(self.ticks, self._first_tick_at_or_after(x))

    def count_until(self, x: float) -> int:
        """How many samples are at times <= ``x`` (bisect_right over the times)."""
        if not self.ticks or not math.isfinite(x * 1000.0):
            return len(self.ticks) if x > 0 else 0
        return bisect_left(self.ticks, self._first_tick_after(x))

    def times(self, lo: int, hi: int) -> FloatArray:
        """Times of samples ``lo:hi`` as float64 (exactly :meth:`time_at` of each)."""
        ticks = np.frombuffer(self.ticks[lo:hi], dtype=np.int32) if hi > lo else np.empty(0, dtype=np.int32)
        return (ticks.astype(np.int64) + self.origin_ms) / 1000.0

    def values(self, lo: int, hi: int) -> FloatArray:
        """Values of samples ``lo:hi`` as float64 (each a float32 widened, exactly)."""
        if hi <= lo:
            return np.empty(0, dtype=np.float64)
        return np.frombuffer(self.vals[lo:hi], dtype=np.float32).astype(np.float64)

    # --- changes ---------------------------------------------------------------------------------

    def extend(self, ts: FloatArray, values: FloatArray) -> None:
        """Append samples sorted by time, none older than the newest held (compaction's batch)."""
        if not len(ts):
            return
        total = np.rint(ts * 1000.0).astype(np.int64)  # each to_ms(t)
        if not self.ticks:
            self.origin_ms = int(total[0])
        ticks = total - self.origin_ms
        if ticks[-1] > _MAX_TICK:
            self._rebase(int(total[-1]))
            ticks = total - self.origin_ms
        keep = ticks >= _MIN_TICK  # anything older than the span an int32 holds (see _rebase)
        self.ticks.frombytes(ticks[keep].astype(np.int32).tobytes())
        self.vals.frombytes(values[keep].astype(np.float32).tobytes())

    def insert(self, ts: float, value: float) -> bool:
        """Insert one late sample at its place; False if it is already held (same millisecond, same
        float32 value: a redelivery) or lies out of the int32 range below the origin (weeks older than
        the samples held: older than any retention the engine keeps, so trimmed anyway)."""
        total = to_ms(ts)
        if not self.ticks:
            self.origin_ms = total
        tick = total - self.origin_ms
        if tick > _MAX_TICK:
            self._rebase(total)
            tick = total - self.origin_ms
        if tick < _MIN_TICK:
            return False
        single = array("f", (value,))[0]
        lo = bisect_left(self.ticks, tick)
        hi = bisect_right(self.ticks, tick, lo)
        if single in self.vals[lo:hi]:
            return False
        self.ticks.insert(hi, tick)
        self.vals.insert(hi, single)
        return True

    def _rebase(self, newest_ms: int) -> None:
        """Move the origin up so that ``newest_ms`` fits: the oldest sample held goes to tick -2**30
        (12.4 days below it stay open to late samples, 37 days above it to new ones), or lower if
        the newest needs it, and what falls below the int32 range then is dropped. A sample's time
        stays the same float (see time_at); only its tick changes."""
        origin = newest_ms - _MAX_TICK
        if self.ticks:
            origin = max(origin, self.origin_ms + self.ticks[0] + 2**30)
        shift = origin - self.origin_ms
        held = np.frombuffer(self.ticks, dtype=np.int32).astype(np.int64) - shift
        keep = held >= _MIN_TICK
        self.ticks = array("i", held[keep].astype(np.int32).tobytes())
        if not keep.all():
            self.vals = array("f", np.frombuffer(self.vals, dtype=np.float32)[keep].tobytes())
        self.origin_ms = origin

    def trim(self, before: float) -> int:
        """Forget samples at times < ``before``; how many were dropped."""
        cut = self.count_before(before)
        if cut:
            del self.ticks[:cut]
            del self.vals[:cut]
        return cut

"""Rollups: each series summarised per wall-clock minute, the view of the fleet that peers are read from.

The control group, the tracking peers of the counterfactual and the fleet-wide check read the
services that did not deploy. They read them as *rollups*: per (service, metric, minute), the
count of samples, their mean time and their mean value. ``aiops replay`` and every consumer
process compute them the same way, so that all read the same peers; they are what an owner of some
of a fleet's partitions can hand the others (a few bytes a minute where the raw samples are
several records), which is the next step (docs/kafka.md).

Why the mean: the readers are bin means (the counterfactual's tracking peers, in minute bins or
wider) and medians of a window of the peers' values (the control group), and the older history is
already held as the same minute means (:meth:`aiops.history.SeriesHistory.compact`). Why the mean
*time*: a 5-minute series has one sample in a minute, and it keeps its own time (a window of a
few samples picks the same ones).

One grid for all. A minute is ``[m, m + 60)``; the counterfactual's minute bins are the wall
clock's minutes too (from the first whole minute at or after the deploy: the deploy's own
part-minute is left out on both sides), and the engine looks at whole minutes. So a peer's minute
is exactly its bin, and a look at ``c`` reads the peers' minutes that end by ``c``, as it judges
the bins of its own that end by ``c``. Read as they were before (each peer's raw samples binned
from the deploy's own second), a peer lags or leads its bin by up to half a minute, and the
tracking peers lose what makes them worth regressing on: the fleet's shared minute-to-minute
moves (measured: BENCHMARKS.md, "Peers read as rollups").

A minute is rolled up once, whole, when the looks' horizon (the watermark less the lateness)
passes its end, so a sample later than the lateness is in its own series but not in its minute's
rollup, in a replay and in a consumer alike.

>>> ts = np.array([0.0, 30.0, 60.0, 90.0, 150.0])
>>> [a.tolist() for a in minute_means(ts, np.array([1.0, 3.0, 5.0, 7.0, 9.0]))]
[[15.0, 75.0, 150.0], [2.0, 6.0, 9.0], [2, 2, 1]]
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from aiops.detectors.base import FloatArray


class RollupSink(Protocol):
    """Where rolled-up minutes go (:class:`aiops.history.FleetHistory`)."""

    def add_sample(self, service: str, metric: str, ts: float, value: float) -> None: ...

    def add_samples(self, service: str, metric: str, ts: FloatArray, values: FloatArray) -> int: ...


MINUTE = 60.0

# (service, metric, minute start, mean time, mean value): one series' minute as its owner rolled it up.
Minute = tuple[str, str, float, float, float]


def minute_means(
    ts: FloatArray, values: FloatArray, width: float = MINUTE
) -> tuple[FloatArray, FloatArray, np.ndarray]:
    """(mean time, mean value, count) of the samples of each wall-clock bin ``[k*width, (k+1)*width)``
    that has any; ``ts`` sorted."""
    if not len(ts):
        return ts, values, np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.diff(np.floor(ts / width), prepend=-np.inf))
    counts = np.diff(np.append(starts, len(ts)))
    if len(starts) == len(ts):  # one sample a bin already (a slower metric): nothing to merge
        return ts, values, counts
    return np.add.reduceat(ts, starts) / counts, np.add.reduceat(values, starts) / counts, counts


def minute_means_each(times: list[FloatArray], values: list[FloatArray]) -> list[tuple[list[float], list[float]]]:
    """(mean times, mean values) of each series' wall-clock minutes, every series in one numpy pass
    (a roll-up comes every minute of data, and a pass per series was a fifth of a consumer's time).

    ``np.bincount`` sums each minute's samples in their order, whatever else the call holds: a minute
    rolled up alone or among many gets the same bits, so a replay and a consumer, which roll up in
    other chunks, agree. (:func:`minute_means`, the history's compaction, sums with ``reduceat``.)

    >>> minute_means_each([np.array([0.0, 30.0, 70.0]), np.array([10.0])], [np.array([1.0, 3.0, 5.0]), np.array([7.0])])
    [([15.0, 70.0], [2.0, 5.0]), ([10.0], [7.0])]
    """
    if not times:
        return []
    ts, vs = np.concatenate(times), np.concatenate(values)
    row = np.repeat(np.arange(len(times)), [len(t) for t in times])
    minute = np.floor(ts / MINUTE)
    first = np.ones(len(ts), dtype=bool)  # each (series, minute) group is contiguous: rows in order, ts sorted
    first[1:] = (row[1:] != row[:-1]) | (minute[1:] != minute[:-1])
    group = np.cumsum(first) - 1
    counts = np.bincount(group)
    mean_ts = (np.bincount(group, ts) / counts).tolist()
    means = (np.bincount(group, vs) / counts).tolist()
    bounds = np.searchsorted(row[first], np.arange(len(times) + 1)).tolist()
    return [(mean_ts[lo:hi], means[lo:hi]) for lo, hi in itertools.pairwise(bounds)]


def grid_ceil(t: float, step: float) -> float:
    """The first point of the grid of whole ``step`` seconds at or after ``t``.

    >>> grid_ceil(125.0, 60.0), grid_ceil(120.0, 60.0)
    (180.0, 120.0)
    """
    return float(math.ceil(t / step) * step)


def grid_after(t: float, step: float) -> float:
    """The first point of the grid of whole ``step`` seconds after ``t``.

    >>> grid_after(125.0, 60.0), grid_after(120.0, 60.0)
    (180.0, 180.0)
    """
    return float((math.floor(t / step) + 1) * step)


def minute_floor(t: float) -> float:
    """The start of ``t``'s wall-clock minute (``t`` itself when not finite).

    >>> minute_floor(125.0), minute_floor(float("-inf"))
    (120.0, -inf)
    """
    return math.floor(t / MINUTE) * MINUTE if math.isfinite(t) else t


@dataclass(frozen=True, slots=True)
class PeerMinutes:
    """What a consumer reads of a partition another process owns (docs/kafka.md, "Rollups").

    Either rolled-up minutes of that partition's series, at ``ts`` = their minute's start (so in a
    batch sorted by event time they come no later than the raw samples would have), or, with no
    minutes, the owner's progress: ``ts`` is the newest event time it had read there, which moves
    the engine's watermark as those samples would have.
    """

    ts: float
    minutes: tuple[Minute, ...] = ()


class StagedRollups:
    """Peers' minutes as their owners published them, held until the looks' horizon passes their end.

    The engine's own series are rolled up from their samples when the horizon passes a minute
    (:meth:`aiops.history.FleetHistory.roll_up`); a peer's arrive whole from its owner, often ahead
    of that horizon, and wait here so that both enter the rollups at the same point. A minute sent
    again (its owner published a part-minute at the end of its partition, then the rest came)
    replaces the first; one that comes after its minute was rolled up is dropped, as a raw sample
    later than the lateness would be.

    >>> from aiops.history import FleetHistory
    >>> staged, view = StagedRollups(), FleetHistory()
    >>> staged.put(("api", "latency", 0.0, 15.0, 1.0)), staged.put(("api", "latency", 60.0, 70.0, 2.0))
    (True, True)
    >>> staged.put(("api", "latency", 60.0, 75.0, 3.0))  # the rest of the minute came
    True
    >>> staged.flush(view, 120.0), view.window("api", "latency", 0.0, 120.0)[1].tolist()
    (2, [1.0, 3.0])
    >>> staged.put(("api", "latency", 60.0, 80.0, 4.0)), len(staged)  # its minute is rolled up already
    (False, 0)
    """

    def __init__(self) -> None:
        self._minutes: dict[tuple[str, str], dict[float, tuple[float, float]]] = {}
        self.flushed_until = float("-inf")

    def __len__(self) -> int:
        return sum(len(m) for m in self._minutes.values())

    def put(self, minute: Minute) -> bool:
        """Hold one minute until it is due; False when its minute was rolled up already."""
        service, metric, start, mean_t, mean_v = minute
        if start < self.flushed_until:
            return False
        held = self._minutes.get((service, metric))
        if held is None:
            held = self._minutes[(service, metric)] = {}
        held[start] = (mean_t, mean_v)
        return True

    def flush(self, into: RollupSink, end: float) -> int:
        """Add to ``into`` every held minute that starts before ``end`` (a whole minute), in time order."""
        added = 0
        if end <= self.flushed_until:
            return 0
        self.flushed_until = end
        emptied = []
        for (service, metric), held in self._minutes.items():
            due = sorted(m for m in held if m < end)
            if not due:
                continue
            if len(due) == 1:
                mean_t, mean_v = held.pop(due[0])
                into.add_sample(service, metric, mean_t, mean_v)
            else:
                pairs = [held.pop(m) for m in due]
                into.add_samples(service, metric, np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs]))
            added += len(due)
            if not held:
                emptied.append((service, metric))
        for key in emptied:
            del self._minutes[key]
        return added

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

import numpy as np

from aiops.detectors.base import FloatArray

MINUTE = 60.0


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

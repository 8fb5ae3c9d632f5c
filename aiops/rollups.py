"""Rollups: each series summarised per wall-clock minute, the view of the fleet that peers are read from.

The control group, the tracking peers of the counterfactual and the fleet-wide check read the
services that did not deploy. They read them as *rollups*: per (service, metric, minute), the
count of samples, their mean time and their mean value. A process that owns some of a fleet's
partitions computes the rollups of the series it owns and can hand them to the others (a few
bytes a minute where the raw samples are several records), and ``aiops replay`` computes the
rollups of every series the same way, so that both read the same peers.

Why the mean: the readers are bin means (the counterfactual's peers, a minute or wider) and medians
of a window of the peers' values (the control group), and the older history is already held as
the same minute means (:meth:`aiops.history.SeriesHistory.compact`). Why the mean *time*: a
5-minute series has one sample in a minute, and it keeps its own time (a window of a few samples
picks the same ones).

Minutes and looks share one grid. A rollup's minute is ``(m - 60, m]``: it holds the sample
stamped on the whole minute ``m`` that ends it, and the engine looks at whole minutes (its step's
multiples), so a look at checkpoint ``c`` reads the peers' samples up to ``c``, as it reads the
deploying service's own; only a window cut short by the next deploy ends off the grid. A minute is
rolled up once, whole, when the looks' horizon (the watermark less the lateness) passes its end,
so a sample later than the lateness is in its own series but not in its minute's rollup, in a
replay and in a consumer alike.

>>> ts = np.array([0.0, 30.0, 60.0, 90.0, 150.0])
>>> minute_means(ts, np.array([1.0, 3.0, 5.0, 7.0, 9.0]))
(array([ 15.,  75., 150.]), array([2., 6., 9.]), array([2, 2, 1]))
>>> [a.tolist() for a in minute_means(ts, np.array([1.0, 3.0, 5.0, 7.0, 9.0]), right=True)]
[[0.0, 45.0, 90.0, 150.0], [1.0, 4.0, 7.0, 9.0], [1, 2, 1, 1]]
"""

from __future__ import annotations

import math

import numpy as np

from aiops.detectors.base import FloatArray

MINUTE = 60.0


def minute_means(
    ts: FloatArray, values: FloatArray, width: float = MINUTE, right: bool = False
) -> tuple[FloatArray, FloatArray, np.ndarray]:
    """(mean time, mean value, count) of the samples of each ``width``-second wall-clock bin that
    has any; ``ts`` sorted. Bins are ``[k*width, (k+1)*width)``, or ``(k*width, (k+1)*width]``
    with ``right`` (a rollup: its minute holds the sample stamped on the minute that ends it).

    >>> minute_means(np.array([0.0, 60.0]), np.array([1.0, 3.0]), right=True)[1].tolist()
    [1.0, 3.0]
    >>> minute_means(np.array([30.0, 60.0]), np.array([1.0, 3.0]), right=True)[1].tolist()
    [2.0]
    """
    if not len(ts):
        return ts, values, np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.diff(np.ceil(ts / width) if right else np.floor(ts / width), prepend=-np.inf))
    counts = np.diff(np.append(starts, len(ts)))
    if len(starts) == len(ts):  # one sample a bin already (a slower metric): nothing to merge
        return ts, values, counts
    return np.add.reduceat(ts, starts) / counts, np.add.reduceat(values, starts) / counts, counts


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


def at_bin_centres(ts: FloatArray, values: FloatArray, origin: float, width: float) -> tuple[FloatArray, FloatArray]:
    """Rollups resampled at the centres of another grid's bins (``[origin + k*width, ...)``, a deploy's).

    A deploy's bins start at its own second and a rollup's minute on the wall clock's, so each bin
    overlaps two minutes; read by where its mean time falls, a bin would lag or lead its samples
    by up to half a minute, and a counterfactual regressing on such peers fits worse than on raw
    ones. Interpolated at the bin's centre from the two minutes around it, it is what the bin's
    own samples average to wherever the series is smooth over a minute. A centre with no minute
    within half a bin on either side (a gap) gets no value.

    >>> ts, values = np.array([30.0, 90.0, 150.0, 330.0]), np.array([1.0, 2.0, 3.0, 9.0])
    >>> [a.tolist() for a in at_bin_centres(ts, values, 20.0, 60.0)]
    [[50.0, 110.0, 170.0, 350.0], [1.3333333333333333, 2.3333333333333335, 3.0, 9.0]]
    """
    if not len(ts):
        return ts, values
    half = width / 2
    # Bins whose centre lies within half a bin of the first and the last minute.
    first = math.ceil((ts[0] - half - origin) / width - 0.5)
    last = math.floor((ts[-1] + half - origin) / width - 0.5)
    centres = origin + (np.arange(first, last + 1) + 0.5) * width
    right = np.minimum(np.searchsorted(ts, centres), len(ts) - 1)  # first minute at or after each centre
    left = np.maximum(right - 1, 0)
    gap_left, gap_right = np.abs(centres - ts[left]), np.abs(ts[right] - centres)
    between = (ts[left] <= centres) & (centres <= ts[right]) & (ts[right] - ts[left] <= 1.5 * width)
    nearest = np.where(gap_left <= gap_right, left, right)
    keep = between | (np.minimum(gap_left, gap_right) <= half + 1e-9)
    out = np.where(between, np.interp(centres, ts, values), values[nearest])
    return centres[keep], out[keep]

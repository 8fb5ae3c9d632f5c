"""One home for the array type and the robust-scale rule every detector shares.

A metric's spread is measured by its median absolute deviation, scaled so that it estimates the
standard deviation of normal data; heavy tails and spikes then do not inflate it. A flat or
quantised stretch has a MAD of 0, and what a scale of 0 should become depends on the caller (a
judge dividing a shift by it, a streaming detector ranking distances), so the floor is the caller's
explicit argument, never a constant hidden here.

>>> import numpy as np
>>> round(robust_sd(np.array([1.0, 2.0, 3.0, 4.0, 100.0])), 4)
1.4826
>>> center_scale(np.full(5, 7.0)), center_scale(np.full(5, 7.0), floor=lambda center, _values: 0.01 * center)
((7.0, 0.0), (7.0, 0.07))
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

# MAD * 1.4826 estimates sigma for normal data (1 / Phi^-1(3/4)).
MAD_TO_SIGMA = 1.4826

# The least scale a caller accepts, given the series' median and its values.
ScaleFloor = Callable[[float, FloatArray], float]


def median(values: FloatArray | list[float]) -> float:
    """The same number as ``np.median`` for NaN-free data, at a fraction of its cost on the short
    windows the judges see (``np.median`` spends most of its time in argument handling).

    >>> median(np.array([3.0, 1.0, 2.0, 10.0])), float(np.median([3.0, 1.0, 2.0, 10.0]))
    (2.5, 2.5)
    """
    ordered = np.sort(np.asarray(values, dtype=np.float64), axis=None)
    n = ordered.size
    if n == 0:
        return float("nan")
    mid = n // 2
    return float(ordered[mid]) if n % 2 else float((ordered[mid - 1] + ordered[mid]) / 2.0)


def mad_sigma(values: FloatArray, center: float) -> float:
    """MAD about ``center`` (NaN-free values), scaled to estimate sigma.

    >>> mad_sigma(np.array([-1.0, 0.0, 2.0]), 0.0)
    1.4826
    """
    return MAD_TO_SIGMA * median(np.abs(values - center))


def center_scale(values: FloatArray, floor: ScaleFloor | None = None) -> tuple[float, float]:
    """Median and MAD-based sigma of NaN-free ``values``; the sigma no less than
    ``floor(median, values)`` when a floor is given."""
    center = median(values)
    sigma = mad_sigma(values, center)
    if floor is None:
        return center, sigma
    return center, max(sigma, floor(center, values))


def robust_sd(values: FloatArray) -> float:
    """MAD-based sigma of the finite values (NaN when fewer than three), with no floor."""
    finite = values[np.isfinite(values)]
    if len(finite) < 3:
        return float("nan")
    return center_scale(finite)[1]


def nanmedian_rows(rows: np.ndarray) -> FloatArray:
    """Median of the finite values of each row (NaN for a row with none).

    ``np.nanmedian`` goes through masked arrays and costs ~50x more on the small windows the judge
    slides over its history; sorting puts NaN last, so each row's median is read at its own count.

    >>> nanmedian_rows(np.array([[1.0, np.nan, 3.0], [np.nan, np.nan, np.nan], [4.0, 1.0, 2.0]])).tolist()
    [2.0, nan, 2.0]
    """
    ordered = np.sort(rows, axis=1)
    counts = np.isfinite(ordered).sum(axis=1)
    lo = np.maximum((counts - 1) // 2, 0)
    hi = np.minimum(np.maximum(counts // 2, 0), rows.shape[1] - 1)
    # Plain fancy indexing picks what take_along_axis would, without its index-array set-up
    # (most of its cost here: the judge asks for one small matrix per look).
    row = np.arange(len(ordered))
    out = (ordered[row, lo] + ordered[row, hi]) / 2.0
    out[counts == 0] = np.nan
    return np.asarray(out, dtype=np.float64)

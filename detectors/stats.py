"""The rank statistics the judges share, vectorised with numpy (the robust scale: :mod:`.robust`).

Why not call ``scipy.stats.mannwhitneyu`` directly: it costs ~280 µs a call on this machine, and the
engine runs the test at every checkpoint of every metric of every open deploy. This version is the
same asymptotic test (tie-corrected normal approximation with continuity correction); the test
suite checks it against scipy.

>>> import numpy as np
>>> before = np.array([1.0, 1.1, 0.9, 1.0, 1.05, 0.95, 1.0, 1.02, 0.98, 1.01])
>>> after = before + 0.5
>>> mann_whitney_p(after, before, "greater") < 1e-3
True
>>> round(hodges_lehmann(after, before), 3)
0.5
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from aiops.detectors.robust import FloatArray

Alternative = Literal["greater", "less", "two-sided"]


def mann_whitney_p(x: FloatArray, y: FloatArray, alternative: Alternative) -> float:
    """p-value of the Mann-Whitney U test that ``x`` is stochastically greater/less than ``y``."""
    n1, n2 = len(x), len(y)
    if n1 == 0 or n2 == 0:
        return 1.0
    combined = np.concatenate([x, y])
    order = np.argsort(combined, kind="mergesort")
    sorted_vals = combined[order]
    # Average ranks for ties: rank of each unique value = mean of its positions.
    is_start = np.empty(len(sorted_vals), dtype=bool)
    is_start[0] = True
    np.not_equal(sorted_vals[1:], sorted_vals[:-1], out=is_start[1:])
    uniq_start = np.flatnonzero(is_start)
    counts = np.diff(uniq_start, append=len(sorted_vals))
    avg_rank = uniq_start + (counts + 1) / 2.0
    ranks = np.empty(len(combined))
    ranks[order] = np.repeat(avg_rank, counts)
    u1 = float(ranks[:n1].sum()) - n1 * (n1 + 1) / 2.0
    mean_u = n1 * n2 / 2.0
    n = n1 + n2
    tie_term = float((counts**3 - counts).sum())
    var_u = n1 * n2 / 12.0 * ((n + 1) - tie_term / (n * (n - 1))) if n > 1 else 0.0
    if var_u <= 0:
        return 1.0
    sd = math.sqrt(var_u)
    if alternative == "greater":
        z = (u1 - mean_u - 0.5) / sd
        return 0.5 * math.erfc(z / math.sqrt(2))
    if alternative == "less":
        z = (u1 - mean_u + 0.5) / sd
        return 0.5 * math.erfc(-z / math.sqrt(2))
    z = (abs(u1 - mean_u) - 0.5) / sd
    return min(1.0, math.erfc(max(z, 0.0) / math.sqrt(2)))


def hodges_lehmann(x: FloatArray, y: FloatArray, max_pairs: int = 5_000) -> float:
    """Median of all pairwise differences x_i - y_j: a robust estimate of the shift from y to x."""
    if len(x) == 0 or len(y) == 0:
        return 0.0
    if len(x) * len(y) > max_pairs:
        # Deterministic thinning keeps the cost bounded on long windows without randomness.
        stride = math.ceil(math.sqrt(len(x) * len(y) / max_pairs))
        x = np.sort(x)[::stride]
        y = np.sort(y)[::stride]
    return float(np.median(np.subtract.outer(x, y)))

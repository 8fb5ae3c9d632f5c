"""One home for the array type and the robust-scale rule every detector shares.

A metric's spread is measured by its median absolute deviation, scaled so that it estimates the
standard deviation of normal data; heavy tails and spikes then do not inflate it.

>>> import numpy as np
>>> round(robust_sd(np.array([1.0, 2.0, 3.0, 4.0, 100.0])), 4)
1.4826
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

# MAD * 1.4826 estimates sigma for normal data (1 / Phi^-1(3/4)).
MAD_TO_SIGMA = 1.4826


def robust_sd(values: FloatArray) -> float:
    """MAD-based sigma of the finite values (NaN when fewer than three)."""
    finite = values[np.isfinite(values)]
    if len(finite) < 3:
        return float("nan")
    center = float(np.median(finite))
    return float(MAD_TO_SIGMA * np.median(np.abs(finite - center)))

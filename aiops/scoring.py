"""``aiops score``: streaming anomaly scores of one NAB-style series (CONTRACTS.md section 5).

The score of row i is computed before row i is learnt, from rows 0..i only: what a live detector
would have said at that moment.
"""

from __future__ import annotations

import csv
from typing import IO

import numpy as np

from aiops.detectors.base import FloatArray
from aiops.detectors.streaming import default_ensemble
from aiops.nab import read_series


def score_series(epoch: FloatArray, values: FloatArray) -> FloatArray:
    """Scores in [0, 1] for each row; the period (daily or none) is read from the timestamps seen."""
    detector = default_ensemble(epoch)
    return np.clip(detector.score_many(values), 0.0, 1.0)


def score_csv(src: IO[str], dst: IO[str]) -> int:
    """Read ``timestamp,value`` rows, write ``timestamp,value,anomaly_score``; returns the row count."""
    stamps, epoch, values = read_series(src)
    scores = score_series(epoch, values)
    writer = csv.writer(dst, lineterminator="\n")
    writer.writerow(["timestamp", "value", "anomaly_score"])
    with np.errstate(all="ignore"):
        for stamp, value, score in zip(stamps, values.tolist(), scores.tolist(), strict=True):
            writer.writerow([stamp, repr(value), f"{score:.6f}"])
    return len(stamps)

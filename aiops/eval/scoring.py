"""``aiops score``: streaming anomaly scores of one NAB-style series (docs/contracts.md section 5).

The score of row i is computed before row i is learnt, from rows 0..i only: what a live detector
would have said at that moment. The NAB scorer (``aiops.eval.nab``) reads its corpus with
:func:`read_series` and scores it with :func:`score_series`; this module imports nothing from it.
"""

from __future__ import annotations

import csv
import math
from datetime import datetime
from typing import IO

import numpy as np

from aiops.detectors.base import FloatArray
from aiops.detectors.streaming import default_ensemble


def read_series(fh: IO[str]) -> tuple[list[str], FloatArray, FloatArray]:
    """A NAB CSV (``timestamp,value``): the raw timestamps, epoch seconds and values."""
    reader = csv.reader(fh)
    header = next(reader, None)
    if header is None or [h.strip().lower() for h in header[:2]] != ["timestamp", "value"]:
        raise ValueError(f"expected a header 'timestamp,value', got {header!r}")
    stamps: list[str] = []
    epoch: list[float] = []
    values: list[float] = []
    for lineno, row in enumerate(reader, 2):
        if not row:
            continue
        if len(row) < 2:
            raise ValueError(f"line {lineno}: expected timestamp,value")
        try:
            epoch.append(datetime.fromisoformat(row[0].strip()).timestamp())
        except ValueError:
            raise ValueError(f"line {lineno}: timestamp {row[0]!r} is not a date-time") from None
        try:
            value = float(row[1])
        except ValueError:
            raise ValueError(f"line {lineno}: value {row[1]!r} is not a number") from None
        if math.isinf(value):  # NaN is a gap (scored 0, not learnt); an infinity is no measurement
            raise ValueError(f"line {lineno}: value {row[1]!r} is infinite (write NaN for a missing value)")
        values.append(value)
        stamps.append(row[0])
    return stamps, np.array(epoch), np.array(values)


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

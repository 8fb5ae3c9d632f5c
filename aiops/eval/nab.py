"""The NAB (Numenta Anomaly Benchmark) scorer, written from the description in shared/data/nab/README.md.

Per file: rows before the probationary period (``min(floor(0.15 N), 750)``) are not scored; the
earliest detection inside a labelled window earns ``tp * s(-(r-i+1)/W) / s(-1)`` (earlier is
better), a window without one costs ``fn``, a detection outside every window costs ``fp`` before the
first window and ``fp * s(|r_p - i| / (W_p - 1))`` after one. One threshold per profile is chosen
for the whole corpus to maximise the raw score, found exactly by sweeping thresholds from the top
score down with incremental bookkeeping (O(N log N)).

>>> round(scaled_sigmoid(-1.0), 4), scaled_sigmoid(4.0)
(0.9866, -1.0)
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import numpy as np

from aiops.detectors.base import FloatArray
from aiops.eval.scoring import read_series, score_series

DEFAULT_PROFILES: dict[str, dict[str, float]] = {
    "standard": {"tpWeight": 1.0, "fnWeight": 1.0, "fpWeight": 0.11},
    "reward_low_FP_rate": {"tpWeight": 1.0, "fnWeight": 1.0, "fpWeight": 0.22},
    "reward_low_FN_rate": {"tpWeight": 1.0, "fnWeight": 2.0, "fpWeight": 0.11},
}


def scaled_sigmoid(y: float) -> float:
    if y > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * y)) - 1.0


@dataclass(frozen=True, slots=True)
class NabFile:
    name: str  # path relative to the corpus, as in combined_windows.json
    timestamps: list[str]
    epoch: FloatArray
    values: FloatArray
    windows: list[tuple[int, int]]  # inclusive row ranges

    @property
    def probation(self) -> int:
        return min(math.floor(0.15 * len(self.values)), 750)


def load_corpus(directory: Path) -> list[NabFile]:
    windows = json.loads((directory / "combined_windows.json").read_text())
    files = []
    for name in sorted(windows):
        path = directory / name
        if not path.is_file():
            continue
        with path.open(newline="") as fh:
            stamps, epoch, values = read_series(fh)
        rows = []
        for start, end in windows[name]:
            lo = datetime.fromisoformat(start).timestamp()
            hi = datetime.fromisoformat(end).timestamp()
            idx = np.flatnonzero((epoch >= lo) & (epoch <= hi))
            if len(idx):
                rows.append((int(idx[0]), int(idx[-1])))
        files.append(NabFile(name, stamps, epoch, values, rows))
    return files


@dataclass(frozen=True, slots=True)
class SweepResult:
    threshold: float
    raw: float
    normalized: float
    tp: int
    fp: int
    fn: int


def sweep(files: list[NabFile], scores: list[FloatArray], profile: dict[str, float]) -> SweepResult:
    """Best threshold for the corpus and its NAB score under ``profile``."""
    tp_w, fn_w, fp_w = profile["tpWeight"], profile["fnWeight"], profile["fpWeight"]
    n_windows = sum(len(f.windows) for f in files)
    null = -fn_w * n_windows
    perfect = tp_w * n_windows
    # Per candidate row: (score, file, row, window id or -1, value as earliest TP or as FP).
    cand_scores, cand_window, cand_value = [], [], []
    window_base = 0
    for f, s in zip(files, scores, strict=True):
        n = len(f.values)
        rows = np.arange(f.probation, n)
        win_of = np.full(n, -1, dtype=np.int64)
        value = np.zeros(n)
        for k, (lo, hi) in enumerate(f.windows):
            width = hi - lo + 1
            idx = np.arange(lo, hi + 1)
            win_of[lo : hi + 1] = window_base + k
            value[lo : hi + 1] = [tp_w * scaled_sigmoid(-(hi - i + 1) / width) / scaled_sigmoid(-1.0) for i in idx]
        # False-positive value of rows outside windows: relative to the last window before them.
        last_end, last_width = -1, 0
        starts = {lo: (lo, hi) for lo, hi in f.windows}
        ends = {hi: hi - lo + 1 for lo, hi in f.windows}
        for i in range(n):
            if win_of[i] >= 0:
                if i in ends:
                    last_end, last_width = i, ends[i]
                continue
            if last_end < 0:
                value[i] = -fp_w
            else:
                value[i] = fp_w * scaled_sigmoid(abs(last_end - i) / max(last_width - 1, 1))
        del starts
        cand_scores.append(s[rows])
        cand_window.append(win_of[rows])
        cand_value.append(value[rows])
        window_base += len(f.windows)
    all_scores = np.concatenate(cand_scores) if cand_scores else np.array([])
    all_windows = np.concatenate(cand_window) if cand_window else np.array([], dtype=np.int64)
    all_values = np.concatenate(cand_value) if cand_value else np.array([])
    # Within one window the earliest detection counts: its value is the window's maximum among
    # detections (values decrease with the row), so track the best value per window.
    order = np.argsort(-all_scores, kind="mergesort")
    best_window_value = np.full(max(n_windows, 1), -np.inf)
    total = null
    best = SweepResult(float("inf"), null, 0.0, 0, 0, n_windows)
    tp = fp = 0
    i = 0
    m = len(order)
    while i < m:
        threshold = all_scores[order[i]]
        j = i
        while j < m and all_scores[order[j]] == threshold:
            k = order[j]
            w = all_windows[k]
            if w < 0:
                total += all_values[k]
                fp += 1
            else:
                old = best_window_value[w]
                new = all_values[k]
                if old == -np.inf:
                    total += new + fn_w
                    best_window_value[w] = new
                    tp += 1
                elif new > old:
                    total += new - old
                    best_window_value[w] = new
            j += 1
        if total > best.raw:
            norm = 100.0 * (total - null) / (perfect - null) if perfect != null else 0.0
            best = SweepResult(float(threshold), float(total), norm, tp, fp, n_windows - tp)
        i = j
    return best


def evaluate_nab(
    directory: Path,
    scorer: Callable[[FloatArray, FloatArray], FloatArray] | None = None,
    progress: IO[str] | None = None,
    profiles: dict[str, dict[str, float]] | None = None,
) -> dict[str, Any]:
    """Score every file with ``scorer`` (default: the project's streaming scorer) and sweep each profile."""
    scorer = scorer or score_series
    if profiles is None:
        path = directory / "profiles.json"
        profiles = (
            {k: v["CostMatrix"] for k, v in json.loads(path.read_text()).items()}
            if path.is_file()
            else DEFAULT_PROFILES
        )
    started = time.perf_counter()
    files = load_corpus(directory)
    scores = []
    for f in files:
        scores.append(np.clip(scorer(f.epoch, f.values), 0.0, 1.0))
        if progress is not None:
            progress.write(f"scored {f.name} ({len(f.values)} rows)\n")
    scoring_seconds = time.perf_counter() - started
    results = {name: sweep(files, scores, p) for name, p in profiles.items()}
    return {
        "files": len(files),
        "rows": int(sum(len(f.values) for f in files)),
        "windows": int(sum(len(f.windows) for f in files)),
        "scoring_seconds": round(scoring_seconds, 2),
        "scores": {name: round(r.normalized, 2) for name, r in results.items()},
        "details": {
            name: {"threshold": r.threshold, "raw": r.raw, "tp": r.tp, "fp": r.fp, "fn": r.fn}
            for name, r in results.items()
        },
    }

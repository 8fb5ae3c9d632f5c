"""Does a part of the NAB ensemble help on files it was not chosen on? Random halves of the corpus.

    python -m benchmarks.nab_halves ../shared/data/nab [--without range_break] [--splits 30] [--seed 0]

The whole NAB subset here is also what every setting was chosen on, so a gain on it could be one
file's luck. This scores the corpus twice, with ``aiops score``'s ensemble and with one part of
it removed, then splits the files into random halves and scores each half on its own (its own
optimised threshold, as NAB does for a corpus). A structural gain shows up in most halves; a gain
carried by one or two files shows up in about half of them.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from multiprocessing import Pool
from pathlib import Path

import numpy as np

from aiops.detectors.base import FloatArray
from aiops.detectors.streaming import Ensemble, default_ensemble
from aiops.eval.nab import DEFAULT_PROFILES, NabFile, load_corpus, sweep

# What --without can remove, and how: each leaves the rest of the ensemble as it is.
PARTS = ("range_break", "novelty")


def _ensemble(epoch: FloatArray, without: str | None) -> Ensemble:
    ensemble = default_ensemble(epoch)
    if without is not None:
        setattr(ensemble, without, None)
    return ensemble


def _score(job: tuple[NabFile, str | None]) -> FloatArray:
    nab_file, without = job
    return np.clip(_ensemble(nab_file.epoch, without).score_many(nab_file.values), 0.0, 1.0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--without", choices=PARTS, default="range_break")
    ap.add_argument("--splits", type=int, default=30, help="random splits, two halves each")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--processes", type=int, default=2)
    args = ap.parse_args(argv)
    files = load_corpus(args.corpus)
    with Pool(args.processes) as pool:
        full = pool.map(_score, [(f, None) for f in files])
        reduced = pool.map(_score, [(f, args.without) for f in files])
    profile = DEFAULT_PROFILES["standard"]
    whole = (sweep(files, full, profile).normalized, sweep(files, reduced, profile).normalized)
    print(f"whole corpus ({len(files)} files), standard: {whole[0]:.2f} with, {whole[1]:.2f} without {args.without}")
    rng = np.random.default_rng(args.seed)
    gains: list[float] = []
    everything = np.arange(len(files))
    for _ in range(args.splits):
        first = rng.permutation(len(files))[: len(files) // 2]
        for half in (first, np.setdiff1d(everything, first)):
            chosen = [files[i] for i in half]
            with_part = sweep(chosen, [full[i] for i in half], profile).normalized
            without_part = sweep(chosen, [reduced[i] for i in half], profile).normalized
            gains.append(with_part - without_part)
    better = sum(g > 0 for g in gains)
    worse = sum(g < 0 for g in gains)
    print(
        f"{len(gains)} halves: better with {args.without} in {better}, worse in {worse}, "
        f"same in {len(gains) - better - worse}; gain median {statistics.median(gains):+.2f}, "
        f"min {min(gains):+.2f}, max {max(gains):+.2f} points"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

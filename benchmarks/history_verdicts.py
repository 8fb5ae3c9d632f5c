"""Does the bounded history change a verdict? Every deploy judged twice, deploy by deploy.

    python -m benchmarks.history_verdicts --families all --seeds 1-3 [--hard-seeds 1-10]

Runs the engine (the ``aiops`` judge, the families' windows) on each fleet of
``benchmarks.deploy_families`` and of ``benchmarks.deploy_regression``'s hard profile twice: with
the history as the engine keeps it (trimmed, older samples one a minute in the compact store,
idle series evicted: ``aiops.history``) and with an unbounded one (``FleetHistory.trim`` and
``FleetHistory.compact`` do nothing, so every sample stays raw, float64). Prints, per fleet, how
many deploys got the same verdict, the same decision time, and the same verdict in every field
(score, reason, per-metric numbers), and lists every deploy whose verdict or decision time
differs. Exit status 1 if any does.

A verdict is a threshold on numbers that the compaction moves a little (a minute's mean stands
for its samples; float32 values); "every field" shows whether those numbers moved at all.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from typing import Any
from unittest import mock

from aiops.eval.simulate import Fleet, simulate_fleet
from aiops.history import FleetHistory
from aiops.model import Effects
from benchmarks.deploy_families import default_engine, drive
from benchmarks.deploy_regression import PROFILES, parse_seeds, run_engine
from benchmarks.fleets import FAMILIES


@contextmanager
def unbounded_history() -> Iterator[None]:
    """Every engine built inside keeps every sample raw: no trim, no compaction, no eviction."""
    with (
        mock.patch.object(FleetHistory, "trim", lambda self, before: None),
        mock.patch.object(FleetHistory, "compact", lambda self, before: None),
    ):
        yield


def verdicts(effects: Effects) -> dict[str, dict[str, Any]]:
    """The last verdict given to each deploy, as its dict."""
    return {v.deployment_id: v.to_dict() for v in effects.verdicts}


def compare(bounded: Effects, unbounded: Effects) -> tuple[dict[str, int], list[str]]:
    """Counts of deploys alike in verdict, decision time and every field; a line per deploy that differs."""
    a, b = verdicts(bounded), verdicts(unbounded)
    counts = {"deploys": len(b), "verdict": 0, "decided_at": 0, "every field": 0}
    lines = [f"  only one run judged {sorted(set(a) ^ set(b))}"] if set(a) != set(b) else []
    for dep in sorted(set(a) & set(b)):
        same_verdict = a[dep]["verdict"] == b[dep]["verdict"]
        same_time = a[dep]["decided_at"] == b[dep]["decided_at"]
        counts["verdict"] += same_verdict
        counts["decided_at"] += same_time
        counts["every field"] += a[dep] == b[dep]
        if not (same_verdict and same_time):
            lines.append(
                f"  {dep}: bounded {a[dep]['verdict']} at {a[dep]['decided_at']} ({a[dep]['reason'][:90]}), "
                f"unbounded {b[dep]['verdict']} at {b[dep]['decided_at']} ({b[dep]['reason'][:90]})"
            )
    return counts, lines


def _judged(fleet: Fleet, windows: Mapping[str, float]) -> Effects:
    """As ``deploy_families`` judges a fleet with the ``aiops`` judge (its default engine, these windows)."""
    return drive(default_engine("aiops", windows), fleet) if windows else run_engine(fleet, "aiops")


def runs(families: list[str], seeds: list[int], hard_seeds: list[int]) -> Iterator[tuple[str, Callable[[], Effects]]]:
    """(label, a callable that judges that fleet once) for every fleet and window set."""
    for name in families:
        family = FAMILIES[name]
        for seed in seeds:
            fleet = family.build(seed, 1.0)
            for wname, windows in family.windows.items():
                yield f"{name} seed {seed} {wname}", partial(_judged, fleet, windows)
    for seed in hard_seeds:
        yield f"deploy_regression hard seed {seed}", partial(_judged, simulate_fleet(PROFILES["hard"], seed), {})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--families", default="all", help=f"comma-separated, all, or none: {','.join(FAMILIES)}")
    ap.add_argument("--seeds", default="1-3")
    ap.add_argument("--hard-seeds", default="", help="seeds of deploy_regression's hard profile (none by default)")
    args = ap.parse_args(argv)
    names = list(FAMILIES) if args.families == "all" else [] if args.families == "none" else args.families.split(",")
    hard_seeds = parse_seeds(args.hard_seeds) if args.hard_seeds else []
    total: dict[str, int] = {}
    differs = 0
    started = time.perf_counter()
    for label, judge in runs(names, parse_seeds(args.seeds), hard_seeds):
        bounded = judge()
        with unbounded_history():
            unbounded = judge()
        counts, lines = compare(bounded, unbounded)
        for key, n in counts.items():
            total[key] = total.get(key, 0) + n
        differs += len(lines)
        print(f"{label}: " + ", ".join(f"{k} {n}" for k, n in counts.items()), flush=True)
        for line in lines:
            print(line, flush=True)
    print(
        f"all: {', '.join(f'{k} {n}' for k, n in total.items())}; "
        f"{differs} differing; {time.perf_counter() - started:.0f} s"
    )
    return 1 if differs else 0


if __name__ == "__main__":
    sys.exit(main())

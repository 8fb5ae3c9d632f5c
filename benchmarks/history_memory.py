"""Memory per series: what the engine's history holds for one series at its full retention.

    python -m benchmarks.history_memory [--series 2000] [--interval 30] [--bulk]

Fills an :class:`aiops.history.FleetHistory` with ``--series`` series (services of 50 metrics)
sampled every ``--interval`` seconds over the engine's default retention (the seasonal days, the
look-back and the analysis window: about 54.5 h), in time order as the engine receives them, and
reports the growth of the process's resident set size per series (RSS from /proc/self/statm,
after a garbage collection), beside what the history counts itself (``FleetHistory.footprint``,
the ``aiops_history_bytes`` gauge) and the raw payload (16 bytes a sample). Every hour of event
time the history is rolled up, trimmed and compacted as ``Engine._trim`` does it: raw samples over
``EngineConfig.raw_window`` (the look-back and a margin), one a minute in 8 bytes before that; and
beside it the series' rollups (``aiops.rollups``, what peers are read from: one a minute in 16
bytes, over the same look-back only; ``--no-rollups``: the history alone, as measured before).
Samples go in one ``FleetHistory.add_sample`` call each, as the engine's records do, every series
once a tick; with ``--bulk``, each series' hour between two trims goes in one
``FleetHistory.add_samples`` call (``SeriesHistory.extend``: the same arrays, grown in one step),
which fills 10^5 series in minutes where tick by tick takes about 13 (30 s) or 26 (15 s) on a
2-core machine; both leave the same samples in the same parts. Linux only.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import time
from collections.abc import Callable

import numpy as np

from aiops.engine_config import EngineConfig
from aiops.history import FleetHistory


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def trim_as_the_engine(history: FleetHistory, ts: float, config: EngineConfig, rollups: FleetHistory | None) -> None:
    """What Engine._trim does every hour of event time, with no deploy under analysis: roll up the
    minutes since the last hour (``Engine._roll_up``), trim, compact."""
    if rollups is not None:
        history.roll_up(rollups, ts - 3600.0 if ts >= 3600.0 else float("-inf"), ts)
        rollups.trim(ts - config.raw_window)
    history.trim(ts - config.retention)
    history.compact(ts - config.raw_window)


def fill_tick_by_tick(
    history: FleetHistory,
    names: list[tuple[str, str]],
    n: int,
    interval: float,
    rng: np.random.Generator,
    hourly: Callable[[float], None],
) -> None:
    """Every series once a tick, a call a sample: the order a live fleet arrives in."""
    for k in range(n):
        ts = k * interval
        values = rng.normal(100.0, 5.0, len(names)).tolist()
        for (service, metric), value in zip(names, values, strict=True):
            history.add_sample(service, metric, ts, value)
        if ts % 3600 == 0:  # as the engine: every hour of event time
            hourly(ts)


def fill_by_the_hour(
    history: FleetHistory,
    names: list[tuple[str, str]],
    n: int,
    interval: float,
    rng: np.random.Generator,
    hourly: Callable[[float], None],
) -> None:
    """The same samples between the same hourly trims, each series' hour in one call
    (``FleetHistory.add_samples``): the arrays end holding what tick by tick leaves, in a fraction
    of the time (the per-sample Python call is what takes long at 10^5 series)."""
    k = 0
    while k < n:
        end = k  # up to the next tick on a whole hour (where tick by tick trims), or the last
        while end < n - 1 and (end * interval) % 3600 != 0:
            end += 1
        ts = np.arange(k, end + 1, dtype=np.float64) * interval
        values = rng.normal(100.0, 5.0, (len(names), len(ts)))
        for (service, metric), row in zip(names, values, strict=True):
            history.add_samples(service, metric, ts, row)
        if (end * interval) % 3600 == 0:
            hourly(float(end * interval))
        k = end + 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--series", type=int, default=2000)
    ap.add_argument("--interval", type=float, default=30.0)
    ap.add_argument("--metrics-per-service", type=int, default=50)
    ap.add_argument("--bulk", action="store_true", help="an hour of a series per call (fill_by_the_hour)")
    ap.add_argument(
        "--no-rollups", action="store_true", help="the history alone, without the rollups peers are read from"
    )
    args = ap.parse_args(argv)

    config = EngineConfig()
    retention = config.retention
    n = int(retention / args.interval)
    per = args.metrics_per_service
    names = [(f"svc-{i // per:05d}", f"m{i % per:02d}") for i in range(args.series)]
    rng = np.random.default_rng(1)
    gc.collect()
    before = rss_bytes()
    started = time.perf_counter()
    history = FleetHistory()
    rollups = None if args.no_rollups else FleetHistory()
    fill = fill_by_the_hour if args.bulk else fill_tick_by_tick
    fill(history, names, n, args.interval, rng, lambda ts: trim_as_the_engine(history, ts, config, rollups))
    seconds = time.perf_counter() - started
    gc.collect()
    grown = rss_bytes() - before
    series, held, counted = history.footprint()
    rolled_count = rollups.footprint()[2] if rollups is not None else 0
    compacted = sum(len(s.old) for s in history.series.values())
    print(
        f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {platform.platform()} {os.cpu_count()} cores\n"
        f"{series:,} series x {n:,} samples ({retention / 3600:.1f} h at {args.interval:g} s; {held:,} held, "
        f"{compacted:,} of them compacted) in {seconds:.0f} s {'by the hour' if args.bulk else 'tick by tick'}\n"
        f"RSS growth {grown / 2**20:,.0f} MiB: {grown / args.series / 1024:,.1f} KiB per series "
        f"(the history's own count {counted / args.series / 1024:,.1f} KiB, its rollups' "
        f"{rolled_count / args.series / 1024:,.1f} KiB; raw payload {16 * n / 1024:,.1f} KiB)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

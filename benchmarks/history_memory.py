"""Memory per series: what the engine's history holds for one series at its full retention.

    python -m benchmarks.history_memory [--series 2000] [--interval 30]

Fills an :class:`aiops.history.FleetHistory` with ``--series`` series (services of 50 metrics)
sampled every ``--interval`` seconds over the engine's default retention (the seasonal days, the
look-back and the analysis window: about 54.5 h), in time order as the engine receives them, and
reports the growth of the process's resident set size per series (RSS from /proc/self/statm,
after a garbage collection), beside the raw payload (16 bytes a sample). Every hour of event time
the history is trimmed and compacted as the engine does it (raw samples over the look-back, one a
minute before that). Linux only.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import time

import numpy as np

from aiops.engine_config import EngineConfig
from aiops.history import FleetHistory


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--series", type=int, default=2000)
    ap.add_argument("--interval", type=float, default=30.0)
    ap.add_argument("--metrics-per-service", type=int, default=50)
    args = ap.parse_args(argv)

    config = EngineConfig()
    retention = config.retention
    # What the engine keeps raw (Engine._trim, with no deploy under analysis): the look-back and a margin.
    raw_span = config.lookback_window + max(2 * config.step, config.lateness)
    n = int(retention / args.interval)
    per = args.metrics_per_service
    names = [(f"svc-{i // per:05d}", f"m{i % per:02d}") for i in range(args.series)]
    rng = np.random.default_rng(1)
    gc.collect()
    before = rss_bytes()
    started = time.perf_counter()
    history = FleetHistory()
    # Tick by tick, every series once a tick: the order a live fleet arrives in.
    for k in range(n):
        ts = k * args.interval
        values = rng.normal(100.0, 5.0, len(names)).tolist()
        for (service, metric), value in zip(names, values, strict=True):
            history.add_sample(service, metric, ts, value)
        if ts % 3600 == 0:  # as the engine: every hour of event time
            history.trim(ts - retention)
            history.compact(ts - raw_span)
    seconds = time.perf_counter() - started
    gc.collect()
    grown = rss_bytes() - before
    held = sum(len(s) for s in history.series.values())
    print(
        f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {platform.platform()} {os.cpu_count()} cores\n"
        f"{args.series:,} series x {n:,} samples ({retention / 3600:.1f} h at {args.interval:g} s; {held:,} held) "
        f"in {seconds:.0f} s\n"
        f"RSS growth {grown / 2**20:,.0f} MiB: {grown / args.series / 1024:,.1f} KiB per series "
        f"(raw payload {16 * n / 1024:,.1f} KiB)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

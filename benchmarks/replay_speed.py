"""Replay speed: a 48-hour, 16-service fleet (~370 k events) through `aiops replay`, timed end to end.

    python -m benchmarks.replay_speed [--hours 48] [--services 16] [--repeat 3]

The events file is generated first (not timed); each run is the real command in a subprocess
(parse, engine, verdicts, JSONL out), wall-clock time, and the replay process's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aiops.eval.simulate import FleetSpec, simulate_fleet


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hours", type=float, default=48)
    ap.add_argument("--services", type=int, default=16)
    ap.add_argument("--interval", type=float, default=30.0)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    spec = FleetSpec(
        services=args.services,
        hours=args.hours,
        interval=args.interval,
        deploys_per_service=6,
        fleet_incidents=2,
        bad_line_rate=0.0005,
    )
    fleet = simulate_fleet(spec, seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fleet.jsonl"
        with path.open("w") as fh:
            for e in fleet.events:
                fh.write((e["_raw"] if "_raw" in e else json.dumps(e)) + "\n")
        times = []
        summary = {}
        for _ in range(args.repeat):
            started = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "aiops.cli", "replay", str(path), "--quiet"],
                capture_output=True,
                text=True,
                check=True,
            )
            times.append(time.perf_counter() - started)
            summary = json.loads(done.stdout.splitlines()[-1])
    lines = len(fleet.events)
    best, median = min(times), statistics.median(times)
    print(f"events {lines:,}  deployments {summary['deployments']}  verdicts {summary['verdicts']}")
    # ru_maxrss of the children: the largest resident set any replay run reached, in KiB on Linux.
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak RSS of the replay process: {peak:,.0f} MiB ({args.services * 4} series)")
    print(
        f"aiops replay wall time: best {best:.1f} s, median {median:.1f} s over {args.repeat} runs "
        f"({lines / median:,.0f} events/s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

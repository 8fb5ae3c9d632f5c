"""What each of N consumer processes decodes, with the peers read as rollups or raw.

    python -m benchmarks.kafka_scaleout --bootstrap 127.0.0.1:9092 [--processes 1,2,3] [--hours 48]
        [--services 16] [--interval 30] [--partitions 6] [--modes rollups,raw] [--db postgresql://...]

For each N and mode: fresh topics (``--partitions`` each), N ``aiops consume`` processes started
and left to settle into one group (their assignments unchanged for 5 s), then the whole fleet
produced (``--services`` x 4 metrics every ``--interval`` seconds for ``--hours``, keyed by service), then, once the
stored verdicts stop changing, every process stopped with SIGTERM. Each process logs what it
decoded (``read and published:`` per kind: ``owned`` = its own partitions, ``peer`` = other
members' raw partitions, ``rollups`` = other members' rollups, ``published`` = its own rollups);
the broker says how many bytes each topic holds (``describe_log_dirs``; the rollups are
gzip-compressed by their producer, the raw samples as the fleet's producer sent them).

Reported per process: raw records decoded as a share of the raw records produced (the target is
1/N), rollups read; and the rollups topic's size as a share of the metrics topic's.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from aiops.config import Settings
from aiops.consumers.clients import kafka_client_options
from aiops.consumers.produce import produce_events, route
from aiops.eval.simulate import FleetSpec, simulate_fleet
from aiops.store import open_store


def _create_topics(settings: Settings, partitions: int) -> None:
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(**kafka_client_options(settings))
    try:
        names = (settings.topic_metrics, settings.topic_deploys, settings.topic_dlq)
        admin.create_topics([NewTopic(n, partitions, 1) for n in names], wait_for_metadata=True)
    finally:
        admin.close()


def _topic_bytes(settings: Settings) -> dict[str, int]:
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(**kafka_client_options(settings))
    try:
        sizes: dict[str, int] = {}
        for broker in admin.describe_log_dirs():
            for log_dir in broker["log_dirs"]:
                for topic in log_dir["topics"]:
                    sizes[topic["name"]] = sizes.get(topic["name"], 0) + sum(
                        p["partition_size"] for p in topic["partitions"]
                    )
        return sizes
    finally:
        admin.close()


def _lag(settings: Settings) -> int:
    """Records of the metrics and deploys topics the group has not committed yet."""
    from kafka import KafkaConsumer
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(**kafka_client_options(settings))
    reader = KafkaConsumer(**kafka_client_options(settings))
    try:
        committed = admin.list_group_offsets({settings.consumer_group: None})[settings.consumer_group]
        tps = [tp for tp in committed if tp.topic in (settings.topic_metrics, settings.topic_deploys)]
        if len(tps) < 2:
            return 1 << 30  # nothing committed yet
        ends = reader.end_offsets(tps)
        return sum(max(0, ends[tp] - committed[tp].offset) for tp in tps)
    finally:
        reader.close()
        admin.close()


def _assignments(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines() if "partitions assigned:" in line]


def _summary(log: Path) -> dict[str, list[int]]:
    for line in reversed(log.read_text().splitlines()):
        if "read and published:" in line:
            pairs = (x.split("=") for x in line.split("read and published:")[1].split())
            return {kind: [int(n) for n in counts.split("/")] for kind, counts in pairs}
    raise RuntimeError(f"{log}: the process did not say what it read (see the log)")


def _verdicts(db: str) -> int:
    store = open_store(db)
    try:
        n, cursor = 0, None
        while True:
            page = store.list_deployments(limit=1000, cursor=cursor)
            n += sum(row.verdict is not None for row in page.items)
            cursor = page.next_cursor
            if cursor is None:
                return n
    finally:
        store.close()


def run_once(args: argparse.Namespace, events: list[dict[str, Any]], n: int, mode: str, tmp: Path) -> dict[str, Any]:
    run = uuid.uuid4().hex[:8]
    db = args.db or f"sqlite:///{tmp}/scaleout-{run}.db"
    env = {
        "AIOPS_KAFKA_BOOTSTRAP": args.bootstrap,
        "AIOPS_TOPIC_METRICS": f"scale-{run}.metrics",
        "AIOPS_TOPIC_DEPLOYS": f"scale-{run}.deploys",
        "AIOPS_TOPIC_DLQ": f"scale-{run}.dlq",
        "AIOPS_TOPIC_ROLLUPS": f"scale-{run}.rollups",
        "AIOPS_CONSUMER_GROUP": f"scale-{run}",
        "AIOPS_DB": db,
        "AIOPS_PEER_ROLLUPS": "on" if mode == "rollups" else "off",
    }
    settings = Settings.from_env(env)
    _create_topics(settings, args.partitions)
    logs = [tmp / f"{run}-{k}.log" for k in range(n)]
    procs = []
    for log in logs:
        with log.open("w") as out:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "aiops.cli", "consume"],
                    env={**os.environ, **env},
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
    try:
        # Settle: every process holds partitions and no assignment changed for 5 s.
        deadline, seen, since = time.monotonic() + 120, -1, time.monotonic()
        while time.monotonic() < deadline:
            lines = [_assignments(log) for log in logs]
            total = sum(len(x) for x in lines)
            if total != seen:
                seen, since = total, time.monotonic()
            elif all(x and not x[-1].endswith("[]") for x in lines) and time.monotonic() - since > 5:
                break
            time.sleep(0.5)
        else:
            raise RuntimeError("the group did not settle in 120 s")
        started = time.monotonic()
        produce_events(events, settings)
        # Done when the group has committed every record of both topics, and the verdicts stopped.
        last, since = -1, time.monotonic()
        while time.monotonic() - started < args.timeout:
            now = _verdicts(db)
            if now != last:
                last, since = now, time.monotonic()
            if time.monotonic() - since > 20 and _lag(settings) == 0:
                break
            time.sleep(1.0)
        elapsed = since - started  # to the last verdict stored (within the 1-s poll)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
    sizes = _topic_bytes(settings)
    return {
        "processes": n,
        "mode": mode,
        "verdicts": last,
        "seconds": round(elapsed, 1),
        "per_process": [_summary(log) for log in logs],
        "metrics_topic_bytes": sizes.get(settings.topic_metrics, 0),
        "rollups_topic_bytes": sizes.get(settings.topic_rollups, 0),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--processes", default="1,2,3")
    parser.add_argument("--modes", default="rollups,raw")
    parser.add_argument("--hours", type=float, default=48.0)
    parser.add_argument("--services", type=int, default=16)
    parser.add_argument("--interval", type=float, default=30.0, help="seconds between a metric's samples")
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--db", default="", help="a PostgreSQL URL (default: one SQLite file per run)")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--json", default="", help="also write the results here")
    parser.add_argument("--logs", default="", help="keep the processes' logs in this folder")
    args = parser.parse_args(argv)
    spec = FleetSpec(services=args.services, hours=args.hours, interval=args.interval, deploys_per_service=3)
    events = [e for e in simulate_fleet(spec, args.seed).events if "_raw" not in e]
    metrics_topic = Settings().topic_metrics
    raw = sum(route(e, Settings())[0] == metrics_topic for e in events)
    print(
        f"fleet: {args.services} services, {args.hours:g} h at {args.interval:g} s, {raw} metric samples, "
        f"{len(events) - raw} deploys"
    )
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        tmp = args.logs or scratch
        for mode in args.modes.split(","):
            for n in (int(x) for x in args.processes.split(",")):
                r = run_once(args, events, n, mode, Path(tmp))
                results.append(r)
                share = r["rollups_topic_bytes"] / max(1, r["metrics_topic_bytes"])
                print(
                    f"{mode:7s} N={n}: {r['verdicts']} verdicts in {r['seconds']} s; rollups topic "
                    f"{r['rollups_topic_bytes'] / 1e6:.2f} MB = {share:.1%} of the metrics topic "
                    f"({r['metrics_topic_bytes'] / 1e6:.1f} MB)"
                )
                for k, p in enumerate(r["per_process"]):
                    decoded = p.get("owned", [0, 0])[0] + p.get("peer", [0, 0])[0]
                    rollups, published = p.get("rollups", [0, 0]), p.get("published", [0, 0])
                    print(
                        f"    process {k}: raw records decoded {decoded} = {decoded / raw:.1%} of the fleet "
                        f"(own {p.get('owned', [0, 0])[0]}, others' {p.get('peer', [0, 0])[0]}); "
                        f"rollups read {rollups[0]} messages / {rollups[1] / 1e3:.0f} kB, "
                        f"published {published[0]} / {published[1] / 1e3:.0f} kB"
                    )
    if args.json:
        Path(args.json).write_text(json.dumps({"raw_samples": raw, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Kafka end-to-end throughput: the aiops consumer next to a bare kafka-python drain, same topic, same run.

    python -m benchmarks.kafka_throughput --bootstrap 127.0.0.1:9092 [--samples 1000000] [--profile] [--reuse RUN]
        [--rollups on|off]

1. Pre-fills fresh topics with ``--samples`` metric samples (16 services x 4 metrics, one JSON
   sample per message, keyed by service) and the fleet's deploys.
2. Bare: a kafka-python consumer assigned every partition drains the metrics topic from the start
   and json-decodes every message. Records per second.
3. aiops: the real consumer (parse, engine in event time, verdicts, SQLite store, commits) in this
   process, from the start to the last record. Records per second.
4. Steps 2 and 3 alternate ``--rounds`` times (the machine's speed drifts between runs; a pair
   run back to back shares the drift) and each pair's ratio is reported, then their median.
   With ``--profile``, one more aiops pass under cProfile shows where the time goes.

Both clocks run from creating the consumer to the moment the last record is done (decoded for the
bare one; parsed, through the engine and written to the store for aiops, as the accepted-records
counter shows, read every 10 ms), so neither counts closing its consumer and leaving the group.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import statistics
import sys
import tempfile
import threading
import time
import uuid
from typing import Any

from aiops.config import Settings
from aiops.consumers.produce import produce_events
from aiops.consumers.runner import ConsumerRunner
from aiops.eval.simulate import FleetSpec, simulate_fleet
from aiops.metrics import Metrics
from aiops.pipeline import build_pipeline
from aiops.store import open_store


def bare_drain(bootstrap: str, topic: str, total: int) -> float:
    from kafka import KafkaConsumer, TopicPartition

    started = time.perf_counter()
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        max_poll_records=5000,
        fetch_max_bytes=52428800,
        max_partition_fetch_bytes=10485760,
    )
    parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    seen = 0
    while seen < total:
        for messages in consumer.poll(timeout_ms=1000).values():
            for m in messages:
                json.loads(m.value)
                seen += 1
    elapsed = time.perf_counter() - started
    consumer.close()
    return seen / elapsed


def aiops_consume(settings: Settings, total: int, profile: bool) -> tuple[float, str]:
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{tmp}/bench.db")
        metrics = Metrics()
        pipeline = build_pipeline(settings, store, metrics)
        runner = ConsumerRunner(settings, pipeline, metrics)
        done = threading.Event()
        finished: list[float] = []

        def watch() -> None:
            while not done.is_set():
                got = (
                    metrics.registry.get_sample_value(
                        "aiops_ingest_records_total", {"source": "kafka", "outcome": "accepted"}
                    )
                    or 0.0
                )
                if got >= total:
                    finished.append(time.perf_counter())
                    runner.stop()
                    done.set()
                time.sleep(0.01)

        watcher = threading.Thread(target=watch, daemon=True)
        profiler = cProfile.Profile() if profile else None
        watcher.start()
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        runner.run()
        if profiler:
            profiler.disable()
        elapsed = (finished[0] if finished else time.perf_counter()) - started
        done.set()
        report = ""
        if profiler:
            buf = io.StringIO()
            pstats.Stats(profiler, stream=buf).sort_stats("tottime").print_stats(18)
            report = buf.getvalue()
        store.close()
    return total / elapsed, report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bootstrap", default="127.0.0.1:9092")
    ap.add_argument("--samples", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3, help="bare/aiops pairs, alternating")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument(
        "--rollups", choices=("on", "off"), default="on", help="AIOPS_PEER_ROLLUPS: publish this process's rollups"
    )
    ap.add_argument(
        "--reuse",
        metavar="RUN",
        help="read the topics of an earlier run (its id is printed) instead of pre-filling new ones: "
        "two versions of the code can then alternate on the very same records",
    )
    args = ap.parse_args(argv)
    services, metrics_per_service, interval = 16, 4, 15.0
    hours = args.samples / (services * metrics_per_service) * interval / 3600
    fleet = simulate_fleet(
        FleetSpec(services=services, hours=hours, interval=interval, deploys_per_service=8, fleet_incidents=2), seed=1
    )
    run = args.reuse or uuid.uuid4().hex[:8]
    env = {
        "AIOPS_KAFKA_BOOTSTRAP": args.bootstrap,
        "AIOPS_TOPIC_METRICS": f"bench-{run}.metrics",
        "AIOPS_TOPIC_DEPLOYS": f"bench-{run}.deploys",
        "AIOPS_TOPIC_DLQ": f"bench-{run}.dlq",
        "AIOPS_TOPIC_ROLLUPS": f"bench-{run}.rollups",
        "AIOPS_CONSUMER_GROUP": f"bench-{run}",
        # One process owns every partition and has no peers; on, it still publishes its rollups.
        "AIOPS_PEER_ROLLUPS": args.rollups,
    }
    settings = Settings.from_env(env)
    events: list[dict[str, Any]] = [e for e in fleet.events if "_raw" not in e]
    samples = sum(1 for e in events if "metric" in e)
    started = time.perf_counter()
    if not args.reuse:
        produce_events(events, settings)
    print(
        f"{'reused' if args.reuse else 'pre-filled'} {len(events):,} events ({samples:,} samples, "
        f"{hours:.0f} h of 16 services) in {time.perf_counter() - started:.0f} s; run {run}",
        flush=True,
    )
    ratios = []
    for round_no in range(1, args.rounds + 1):
        bare = bare_drain(args.bootstrap, settings.topic_metrics, samples)
        group = Settings.from_env({**env, "AIOPS_CONSUMER_GROUP": f"bench-{run}-{uuid.uuid4().hex[:6]}"})
        ours, _ = aiops_consume(group, len(events), profile=False)
        ratios.append(ours / bare)
        print(
            f"round {round_no}: bare kafka-python drain + json decode {bare:,.0f} records/s; "
            f"aiops consumer (parse, engine, verdicts, SQLite, commits) {ours:,.0f} records/s; "
            f"ratio {ours / bare:.1%}",
            flush=True,
        )
    print(f"ratio, median of {len(ratios)} rounds: {statistics.median(ratios):.1%} of the bare consumer", flush=True)
    if args.profile:  # one more, profiled pass (cProfile slows it): where the time goes
        # A fresh group, as for the timed passes: with --reuse, a group of an earlier profiled pass
        # has committed to the end of the topic and would wait forever for records.
        again = Settings.from_env({**env, "AIOPS_CONSUMER_GROUP": f"bench-{run}-profile-{uuid.uuid4().hex[:6]}"})
        _, report = aiops_consume(again, len(events), profile=True)
        print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Kafka consumers: at-least-once, idempotent, co-partitioned, rebuilt after every handoff.

How a service's deploys and metrics meet in one process: producers key both topics by service name,
both topics have the same partition count, and the group uses the *range* assignor, which gives
partition ``i`` of every topic to the same member. So one process sees all of a service's samples
and deploys, in order.

Delivery: a batch is parsed, run through the engine and written to the store (one transaction),
bad records are produced to the dead-letter topic and flushed, and only then are the batch's
offsets committed. A crash between the write and the commit replays the batch, and the store's
keyed writes make that harmless.

State after a handoff: whenever partitions are assigned, the engine is rebuilt from scratch. Each
assigned partition is rewound to the event time ``watermark - warm-up`` (the watermark is stored in
the commit's metadata; message timestamps are event time, see docs/kafka.md) and read up to its
committed offset in *warm-up*: records go through the engine but their effects are not written (the
previous owner wrote them before committing). From the committed offset on, effects are written
again: the engine is deterministic in event time, so its verdicts equal an uninterrupted run's.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiops.config import Settings
from aiops.engine import Engine
from aiops.metrics import Metrics
from aiops.model import Record
from aiops.parsing import parse_payload
from aiops.service import Pipeline

log = logging.getLogger("aiops.consumers")

MAX_POLL_RECORDS = 5000
IDLE_AFTER_S = 5.0
CALIBRATION_REFRESH_S = 60.0
HEADER_PREFIX = "aiops."


@dataclass(slots=True)
class _Rebuild:
    needed: bool = False
    warm_until: dict[Any, int] = field(default_factory=dict)  # TopicPartition -> first live offset


def _listener(state: _Rebuild) -> Any:
    from kafka.consumer.subscription_state import ConsumerRebalanceListener

    class Listener(ConsumerRebalanceListener):  # type: ignore[misc]
        """Rebalance callbacks must not block: they only flag the rebuild the poll loop then does."""

        def on_partitions_revoked(self, revoked: Any) -> None:
            log.info("partitions revoked: %s", sorted(f"{tp.topic}[{tp.partition}]" for tp in revoked))

        def on_partitions_assigned(self, assigned: Any) -> None:
            log.info("partitions assigned: %s", sorted(f"{tp.topic}[{tp.partition}]" for tp in assigned))
            state.needed = True

    return Listener()


def kafka_client_options(settings: Settings) -> dict[str, Any]:
    """Bootstrap plus pass-through security settings (AIOPS_KAFKA_SECURITY_PROTOCOL, _SASL_*, _SSL_*)."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap.split(",") if settings.kafka_bootstrap else []
    }
    options.update(settings.kafka_security)  # e.g. security_protocol, sasl_mechanism, ssl_cafile
    return options


class ConsumerRunner:
    """One group member: poll a batch, process, make durable, commit; repeat until stopped."""

    def __init__(
        self,
        settings: Settings,
        pipeline: Pipeline,
        metrics: Metrics | None = None,
        *,
        warmup_seconds: float | None = None,
        engine_factory: Callable[[], Engine] | None = None,
    ) -> None:
        if not settings.kafka_bootstrap:
            raise ValueError("AIOPS_KAFKA_BOOTSTRAP: not set; there is no broker to consume from")
        self.settings = settings
        self.pipeline = pipeline
        self.metrics = metrics or pipeline.metrics
        self.warmup_seconds = warmup_seconds if warmup_seconds is not None else settings.engine.retention
        self._engine_factory = engine_factory or (
            lambda: Engine(settings.engine, calibration=pipeline.engine.calibration)
        )
        self._stop = threading.Event()
        self._rebuild = _Rebuild()
        self._partition_time: dict[Any, float] = {}  # newest event time read, per partition
        self._end_offsets: dict[Any, int] = {}
        self._end_offsets_at = 0.0
        self._calibrated_at = float("-inf")
        self._at_end_since: dict[Any, float] = {}  # partition -> when it was first seen read to its end
        self._last_error_log = 0.0
        self.batches = 0

    def stop(self) -> None:
        self._stop.set()

    def _consumer(self) -> Any:
        from kafka import KafkaConsumer
        from kafka.coordinator.assignors.range import RangePartitionAssignor

        s = self.settings
        consumer = KafkaConsumer(
            group_id=s.consumer_group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            partition_assignment_strategy=(RangePartitionAssignor,),
            max_poll_records=MAX_POLL_RECORDS,
            max_poll_interval_ms=300_000,
            session_timeout_ms=10_000,
            heartbeat_interval_ms=3_000,
            reconnect_backoff_max_ms=5_000,
            client_id=f"aiops-{threading.get_ident()}",
            **kafka_client_options(s),
        )
        consumer.subscribe([s.topic_metrics, s.topic_deploys], listener=_listener(self._rebuild))
        return consumer

    def _producer(self) -> Any:
        from kafka import KafkaProducer

        return KafkaProducer(acks="all", linger_ms=5, retries=10, **kafka_client_options(self.settings))

    def run(self) -> None:
        consumer = self._consumer()
        producer = self._producer()
        try:
            while not self._stop.is_set():
                try:
                    self._step(consumer, producer)
                except Exception as exc:  # broker gone, commit failed, store hiccup: back off, retry
                    self._log_error(exc)
                    self._stop.wait(2.0)
        finally:
            try:
                consumer.close(autocommit=False)  # leaves the group so partitions move at once
            except Exception as exc:
                log.warning("closing consumer: %s", exc)
            producer.close(timeout=5)

    def _log_error(self, exc: Exception) -> None:
        # Once per 30 s, not per record: an outage should not flood the log.
        now = time.monotonic()
        if now - self._last_error_log > 30:
            log.warning("kafka/store error, retrying with backoff: %s: %s", type(exc).__name__, exc)
            self._last_error_log = now

    def _step(self, consumer: Any, producer: Any) -> None:
        if time.monotonic() - self._calibrated_at > CALIBRATION_REFRESH_S:
            # Feedback given through any API process reaches every consumer within a minute.
            self.pipeline.refresh_calibration()
            self._calibrated_at = time.monotonic()
        polled = consumer.poll(timeout_ms=500, max_records=MAX_POLL_RECORDS)
        if self._rebuild.needed:
            self._rewind(consumer)
            return  # what this poll fetched came from the old positions; fetch again after the seek
        if not polled:
            self.pipeline.engine.horizon_limit = self._low_watermark(consumer)
            self.pipeline.advance("kafka")
            self._report_lag(consumer)
            return
        started = time.perf_counter()
        live: list[Record] = []
        warm: list[Record] = []
        rejected = skipped = 0
        last_offsets: dict[Any, int] = {}
        labels = self.settings.service_labels
        for tp, messages in polled.items():
            warm_until = self._rebuild.warm_until.get(tp, -1)
            for msg in messages:
                last_offsets[tp] = msg.offset
                parsed = parse_payload(
                    msg.value or b"", service_labels=labels, max_bytes=self.settings.max_record_bytes
                )
                if parsed.records:
                    newest = max(r.ts for r in parsed.records)
                    if newest > self._partition_time.get(tp, float("-inf")):
                        self._partition_time[tp] = newest
                is_warm = msg.offset < warm_until
                (warm if is_warm else live).extend(parsed.records)
                skipped += parsed.skipped
                if parsed.rejections and not is_warm:
                    rejected += len(parsed.rejections)
                    for r in parsed.rejections:
                        reason = r.reason if len(parsed.rejections) == 1 and r.index == 0 else f"[{r.index}] {r.reason}"
                        self._dead_letter(producer, msg, reason)
        # Interleave partitions in event time: each partition is in order, the batch as a whole not.
        warm.sort(key=lambda r: r.ts)
        live.sort(key=lambda r: r.ts)
        self.pipeline.engine.horizon_limit = self._low_watermark(consumer)
        if warm:
            self.pipeline.engine.process(warm)  # state only: the previous owner wrote these effects
        result = self.pipeline.ingest_records(live, (), skipped, source="kafka")
        if rejected:
            producer.flush(timeout=30)  # the DLQ copy is durable before the offset moves past it
            if self.metrics:
                self.metrics.dlq_records.inc(rejected)
                self.metrics.ingest_records.labels(source="kafka", outcome="rejected").inc(rejected)
        self._commit(consumer, last_offsets)
        self.batches += 1
        if self.metrics:
            self.metrics.batch_duration.labels(source="kafka_batch").observe(time.perf_counter() - started)
        self._report_lag(consumer)
        log.debug(
            "batch: %d live, %d warm, %d rejected, %d verdicts",
            len(live),
            len(warm),
            rejected,
            len(result.effects.verdicts),
        )

    def _low_watermark(self, consumer: Any) -> float | None:
        """Event time up to which every assigned partition with data left has been read.

        A partition with records still ahead holds looks back to its newest event time (or entirely,
        before its first record); one read to its end does too for IDLE_AFTER_S, then it is idle.
        """
        low: float | None = None
        assigned = consumer.assignment()
        unknown = [tp for tp in assigned if consumer.highwater(tp) is None and tp not in self._end_offsets]
        if unknown or time.monotonic() - self._end_offsets_at > 5.0:
            # Partitions never fetched from (empty ones) report no highwater: ask the broker.
            try:
                self._end_offsets = dict(consumer.end_offsets(list(assigned)))
                self._end_offsets_at = time.monotonic()
            except Exception as exc:
                self._log_error(exc)
        for tp in assigned:
            high = consumer.highwater(tp)
            if high is None:
                high = self._end_offsets.get(tp)
            try:
                position = consumer.position(tp, timeout_ms=0) if high is not None else None
            except Exception:
                position = None
            if high is not None and position is not None and position >= high:
                # Read to its end. Its next record may still be older than the other partitions'
                # progress (a fast producer, a batch in flight), so it holds looks back at its
                # newest event time until it has been quiet for IDLE_AFTER_S; then it is idle.
                now = time.monotonic()
                if now - self._at_end_since.setdefault(tp, now) >= IDLE_AFTER_S:
                    continue
            else:
                self._at_end_since.pop(tp, None)
            seen = self._partition_time.get(tp, float("-inf"))
            low = seen if low is None else min(low, seen)
        return low

    def _dead_letter(self, producer: Any, msg: Any, reason: str) -> None:
        """The original bytes, untouched, with headers saying why and where they came from."""
        headers = [
            (HEADER_PREFIX + "reason", reason.encode()),
            (HEADER_PREFIX + "source.topic", msg.topic.encode()),
            (HEADER_PREFIX + "source.partition", str(msg.partition).encode()),
            (HEADER_PREFIX + "source.offset", str(msg.offset).encode()),
        ]
        producer.send(self.settings.topic_dlq, value=msg.value or b"", key=msg.key, headers=headers)

    def _commit(self, consumer: Any, last_offsets: dict[Any, int]) -> None:
        from kafka.structs import OffsetAndMetadata

        if not last_offsets:
            return
        meta = json.dumps({"watermark": self.pipeline.engine.watermark if self.pipeline.engine.watermark > 0 else None})
        consumer.commit({tp: OffsetAndMetadata(off + 1, meta, -1) for tp, off in last_offsets.items()})

    def _rewind(self, consumer: Any) -> None:
        """Fresh engine; rewind every assigned partition to warm up the state it needs."""
        self._rebuild.needed = False
        assigned = list(consumer.assignment())
        self.pipeline.replace_engine(self._engine_factory())
        self._partition_time = {}
        warm_until: dict[Any, int] = {}
        watermarks = []
        committed: dict[Any, int] = {}
        for tp in assigned:
            c = consumer.committed(tp, metadata=True)
            if c is None or c.offset is None or c.offset < 0:
                continue
            committed[tp] = c.offset
            try:
                wm = json.loads(c.metadata or "{}").get("watermark")
            except (ValueError, AttributeError):
                wm = None
            if wm:
                watermarks.append(float(wm))
        # This poll's records were dropped (they predate the rebuild): every partition is sought
        # explicitly, the ones never committed back to their beginning.
        fresh = [tp for tp in assigned if tp not in committed]
        if fresh:
            consumer.seek_to_beginning(*fresh)
        if not committed:
            self._rebuild.warm_until = {}
            log.info("no committed offsets: starting from the earliest records, nothing to warm up")
            return
        start_ts = (max(watermarks) - self.warmup_seconds) if watermarks else None
        targets = {}
        if start_ts is not None and start_ts > 0:
            found = consumer.offsets_for_times({tp: int(start_ts * 1000) for tp in assigned})
            targets = {tp: (o.offset if o is not None else None) for tp, o in found.items()}
        beginning = consumer.beginning_offsets(assigned)
        for tp in assigned:
            live_from = committed.get(tp)
            if live_from is None:
                continue
            start = targets.get(tp)
            if start is None:
                start = beginning[tp] if start_ts is None else live_from
            start = min(start, live_from)
            consumer.seek(tp, start)
            warm_until[tp] = live_from
        self._rebuild.warm_until = warm_until
        log.info("rebuilt engine state: warming up %d partition(s) from event time %s", len(warm_until), start_ts)

    def _report_lag(self, consumer: Any) -> None:
        if not self.metrics:
            return
        for tp in consumer.assignment():
            high = consumer.highwater(tp)
            if high is None:
                continue
            try:
                position = consumer.position(tp, timeout_ms=1000)
            except Exception:
                continue
            self.metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(max(0, high - position))


class BackgroundConsumer:
    def __init__(self, runner: ConsumerRunner) -> None:
        self.runner = runner
        self.thread = threading.Thread(target=runner.run, name="aiops-consumer", daemon=True)

    def stop(self) -> None:
        self.runner.stop()
        self.thread.join(timeout=30)


def start_in_background(settings: Settings, pipeline: Pipeline, metrics: Metrics) -> BackgroundConsumer:
    """``aiops serve --consume``: the same consumer, in a thread beside the API."""
    bg = BackgroundConsumer(ConsumerRunner(settings, pipeline, metrics))
    bg.thread.start()
    return bg


def run_forever(settings: Settings) -> int:
    """``aiops consume``: one group member until SIGTERM/SIGINT; then finish the batch and leave."""
    from prometheus_client import start_http_server

    from aiops.store import open_store

    if not settings.kafka_bootstrap:
        log.error("AIOPS_KAFKA_BOOTSTRAP: not set; there is no broker to consume from")
        return 2
    store = open_store(settings.db)
    metrics = Metrics()
    metrics.watch_open_incidents(store.count_open_incidents)
    pipeline = Pipeline(Engine(settings.engine), store, metrics)
    runner = ConsumerRunner(settings, pipeline, metrics)

    def stop(signum: int, _frame: Any) -> None:
        log.info("signal %d: finishing the batch, committing, leaving the group", signum)
        runner.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    port = settings.metrics_port
    if port:
        start_http_server(port, addr="127.0.0.1", registry=metrics.registry)
    log.info("consuming %s, %s as group %s", settings.topic_metrics, settings.topic_deploys, settings.consumer_group)
    runner.run()
    store.close()
    return 0

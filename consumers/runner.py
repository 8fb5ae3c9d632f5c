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
from aiops.engine import Engine, KnownDeploy
from aiops.metrics import Metrics
from aiops.model import MetricSample, Record
from aiops.parsing import clean_native_sample, parse_payload
from aiops.service import Pipeline
from aiops.store.base import StoreUnavailable

log = logging.getLogger("aiops.consumers")

MAX_POLL_RECORDS = 5000
IDLE_AFTER_S = 5.0
END_OFFSETS_REFRESH_S = 1.0
LISTING_INTERVAL_S = 0.25
_NEVER_LIVE = 1 << 62  # a warm-up boundary no offset reaches: every message read for state only
CALIBRATION_REFRESH_S = 60.0
HEADER_PREFIX = "aiops."


@dataclass(slots=True)
class _Rebuild:
    needed: bool = False
    warm_until: dict[Any, int] = field(default_factory=dict)  # TopicPartition -> first live offset
    analyse_from: float = float("-inf")  # warm deploys before this were decided and stored: noted only
    written_until: float = float("-inf")  # warm deploys' looks up to this were stored by the previous owner


@dataclass(frozen=True, slots=True)
class _Handoff:
    """What a committing member leaves in the offset metadata for whoever owns the partition next."""

    open_since: float  # earliest deploy still being analysed or watched (Engine.open_since)
    looked_until: float  # every look up to here was taken and its effects stored

    def encode(self) -> str:
        return json.dumps({"open_since": _finite(self.open_since), "looked_until": _finite(self.looked_until)})

    @classmethod
    def decode(cls, text: str | None) -> _Handoff | None:
        try:
            raw = json.loads(text or "{}")
            return cls(*(float("-inf") if raw[k] is None else float(raw[k]) for k in ("open_since", "looked_until")))
        except (ValueError, TypeError, KeyError):
            return None  # committed by an older version, or by hand


def _finite(x: float) -> float | None:
    return x if x not in (float("inf"), float("-inf")) else None


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
        engine_factory: Callable[[], Engine] | None = None,
    ) -> None:
        if not settings.kafka_bootstrap:
            raise ValueError("AIOPS_KAFKA_BOOTSTRAP: not set; there is no broker to consume from")
        self.settings = settings
        self.pipeline = pipeline
        self.metrics = metrics or pipeline.metrics
        self._engine_factory = engine_factory or (
            lambda: Engine(settings.engine, calibration=pipeline.engine.calibration)
        )
        self.peer_view = settings.peer_view and settings.engine.fleet_check
        self._stop = threading.Event()
        self._rebuild = _Rebuild()
        self._partition_time: dict[Any, float] = {}  # newest event time read, per partition
        self._end_offsets: dict[Any, int] = {}
        self._end_offsets_at = 0.0
        self._read_since_listing = False
        self._lister: Any = None
        self._calibrated_at = float("-inf")
        self._at_end_since: dict[Any, float] = {}  # partition -> when it was first seen read to its end
        self._last_error_log = 0.0
        self._holding = False  # the store failed a write: partitions paused, no commits until it takes it
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
            # Catching up on lag: fewer, larger fetches. Memory stays bounded by fetch_max_bytes.
            max_partition_fetch_bytes=8 << 20,
            fetch_max_bytes=48 << 20,
            max_poll_interval_ms=300_000,
            session_timeout_ms=10_000,
            heartbeat_interval_ms=3_000,
            reconnect_backoff_max_ms=5_000,
            client_id=f"aiops-{threading.get_ident()}",
            **kafka_client_options(s),
        )
        consumer.subscribe([s.topic_metrics, s.topic_deploys], listener=_listener(self._rebuild))
        return consumer

    def _peer_consumer(self) -> Any:
        """Reads, outside the group and without committing, the partitions other members own."""
        from kafka import KafkaConsumer

        return KafkaConsumer(
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=MAX_POLL_RECORDS,
            reconnect_backoff_max_ms=5_000,
            client_id=f"aiops-peers-{threading.get_ident()}",
            **kafka_client_options(self.settings),
        )

    def _lister_consumer(self) -> Any:
        """Lists end offsets only: no group, no assignment, never fetches."""
        from kafka import KafkaConsumer

        return KafkaConsumer(
            group_id=None,
            enable_auto_commit=False,
            client_id=f"aiops-offsets-{threading.get_ident()}",
            **kafka_client_options(self.settings),
        )

    def _producer(self) -> Any:
        from kafka import KafkaProducer

        return KafkaProducer(acks="all", linger_ms=5, retries=10, **kafka_client_options(self.settings))

    def run(self) -> None:
        consumer = self._consumer()
        peers = self._peer_consumer() if self.peer_view else None
        self._lister = self._lister_consumer()
        producer = self._producer()
        try:
            while not self._stop.is_set():
                try:
                    if self._holding:
                        self._hold(consumer, peers, producer)
                    else:
                        self._step(consumer, peers, producer)
                except StoreUnavailable as exc:
                    if self.pipeline.has_unwritten and not self._holding:
                        self._start_holding(consumer, peers, exc)
                    else:
                        self._log_error(exc)
                        self._stop.wait(1.0)
                except Exception as exc:  # broker gone, commit failed, store hiccup: back off, retry
                    self._log_error(exc)
                    self._stop.wait(2.0)
        finally:
            try:
                if not self._rebuild.needed and not self.pipeline.has_unwritten:
                    self._commit(consumer, sync=True)
            except Exception as exc:
                log.warning("last commit: %s", exc)
            try:
                consumer.close(autocommit=False)  # leaves the group so partitions move at once
                if peers is not None:
                    peers.close(autocommit=False)
                if self._lister is not None:
                    self._lister.close(autocommit=False)
            except Exception as exc:
                log.warning("closing consumer: %s", exc)
            producer.close(timeout=5)

    def _start_holding(self, consumer: Any, peers: Any, exc: StoreUnavailable) -> None:
        """The store refused a write (down, locked, full): stop reading and committing until it
        takes what the engine emitted. Reading on would only pile up effects in memory, and a
        commit would move the group past records whose effects are not durable."""
        log.error("store: %s; holding: partitions paused, no offsets committed until the write succeeds", exc)
        self._last_error_log = time.monotonic()
        self._holding = True
        consumer.pause(*consumer.assignment())
        if peers is not None:
            peers.pause(*peers.assignment())

    def _hold(self, consumer: Any, peers: Any, producer: Any) -> None:
        # Paused partitions fetch nothing; polling keeps this member in the group meanwhile.
        polled = consumer.poll(timeout_ms=500, max_records=MAX_POLL_RECORDS)
        for tp, messages in polled.items():  # not expected while paused; never skip them if it happens
            consumer.seek(tp, messages[0].offset)
        if self._rebuild.needed:
            # New partitions: the rebuilt engine reads everything uncommitted again, so what was
            # unwritten is emitted again (replace_engine drops it) and reading starts afresh.
            self._holding = False
            self._rewind(consumer, peers)
            consumer.resume(*consumer.assignment())
            if peers is not None:
                peers.resume(*peers.assignment())
            return
        try:
            self.pipeline.write_unwritten()
        except StoreUnavailable as exc:
            self._log_error(exc)
            self._stop.wait(1.0)
            return
        producer.flush(timeout=30)  # dead letters of the held batch are durable before the commit
        self._commit(consumer)
        self._holding = False
        consumer.resume(*consumer.assignment())
        if peers is not None:
            peers.resume(*peers.assignment())
        log.warning("store: writes succeed again; reading resumed")

    def _log_error(self, exc: Exception) -> None:
        # Once per 30 s, not per record: an outage should not flood the log.
        now = time.monotonic()
        if now - self._last_error_log > 30:
            log.warning("kafka/store error, retrying with backoff: %s: %s", type(exc).__name__, exc)
            self._last_error_log = now

    def _step(self, consumer: Any, peers: Any, producer: Any) -> None:
        if time.monotonic() - self._calibrated_at > CALIBRATION_REFRESH_S:
            # Feedback given through any API process reaches every consumer within a minute.
            self.pipeline.refresh_calibration()
            self._calibrated_at = time.monotonic()
        reading_peers = peers is not None and bool(peers.assignment())
        polled = consumer.poll(timeout_ms=200 if reading_peers else 500, max_records=MAX_POLL_RECORDS)
        if self._rebuild.needed:
            self._rewind(consumer, peers)
            return  # what this poll fetched came from the old positions; fetch again after the seek
        peer_polled = peers.poll(timeout_ms=0 if polled else 300, max_records=MAX_POLL_RECORDS) if reading_peers else {}
        if not polled and not peer_polled:
            self.pipeline.set_horizon_limit(self._low_watermark(consumer, peers))
            self.pipeline.advance("kafka")
            self._report_lag(consumer)
            return
        started = time.perf_counter()
        records: list[Record | KnownDeploy] = []
        live = rejected = skipped = 0
        rebuild = self._rebuild
        for tp, messages in polled.items():
            n_live, n_rejected, n_skipped = self._read(
                tp, messages, records, producer, rebuild.warm_until.get(tp, -1), rebuild.analyse_from
            )
            live, rejected, skipped = live + n_live, rejected + n_rejected, skipped + n_skipped
        for tp, messages in peer_polled.items():
            # Another member's partitions: their samples are this process's control group; their
            # deploys only say which services are no control. Their owner stores and commits them.
            self._read(tp, messages, records, producer, warm_until=_NEVER_LIVE, analyse_from=float("inf"))
        self._read_since_listing = True
        # One pass in event time over every partition read (each is in order, the batch as a whole
        # not), so a look sees every record at or before its checkpoint, as a replay would.
        records.sort(key=lambda r: r.ts)
        self.pipeline.set_horizon_limit(self._low_watermark(consumer, peers))
        result = self.pipeline.ingest_records(records, (), skipped, source="kafka", accepted=live)
        if rejected:
            producer.flush(timeout=30)  # the DLQ copy is durable before the offset moves past it
            if self.metrics:
                self.metrics.dlq_records.inc(rejected)
                self.metrics.ingest_records.labels(source="kafka", outcome="rejected").inc(rejected)
        self._commit(consumer)
        self.batches += 1
        if self.metrics:
            self.metrics.batch_duration.labels(source="kafka_batch").observe(time.perf_counter() - started)
        self._report_lag(consumer)
        log.debug(
            "batch: %d records (%d live), %d rejected, %d verdicts",
            len(records),
            live,
            rejected,
            len(result.effects.verdicts),
        )

    def _read(
        self,
        tp: Any,
        messages: list[Any],
        records: list[Record | KnownDeploy],
        producer: Any,
        warm_until: int,
        analyse_from: float,
    ) -> tuple[int, int, int]:
        """Decode one partition's messages into ``records``; (live records, rejected, skipped).

        Messages before ``warm_until`` are read again after a handoff (or, for a peer partition,
        always): the previous owner stored what they did up to its last commit, so their deploys
        from before ``analyse_from`` are only noted, and their bad records are not dead-lettered again.
        """
        settings = self.settings
        rebuild = self._rebuild
        live = rejected = skipped = 0
        newest = self._partition_time.get(tp, float("-inf"))
        for msg in messages:
            # The common case (one clean native sample) in one call; anything else gets the full
            # parser, its other shapes and its field-naming rejections.
            sample = clean_native_sample(msg.value or b"", settings.max_record_bytes)
            if sample is not None:
                records.append(sample)
                if sample.ts > newest:
                    newest = sample.ts
                if msg.offset >= warm_until:
                    live += 1
                continue
            parsed = parse_payload(
                msg.value or b"", service_labels=settings.service_labels, max_bytes=settings.max_record_bytes
            )
            for record in parsed.records:
                newest = max(newest, record.ts)
            if msg.offset < warm_until:
                records.extend(
                    r if type(r) is MetricSample else KnownDeploy(r, r.ts >= analyse_from, rebuild.written_until)  # type: ignore[arg-type]
                    for r in parsed.records
                )
                continue
            records.extend(parsed.records)
            live += len(parsed.records)
            skipped += parsed.skipped
            rejected += len(parsed.rejections)
            for bad in parsed.rejections:
                reason = bad.reason if len(parsed.rejections) == 1 and bad.index == 0 else f"[{bad.index}] {bad.reason}"
                self._dead_letter(producer, msg, reason)
        self._partition_time[tp] = newest
        return live, rejected, skipped

    def _low_watermark(self, consumer: Any, peers: Any) -> float | None:
        """Event time up to which every partition read (owned or peer) with data left has been read.

        A partition with records still ahead holds looks back to its newest event time (or entirely,
        before its first record); one read to its end does too for IDLE_AFTER_S, then it is idle.
        """
        views = [(consumer, list(consumer.assignment()))]
        if peers is not None:
            views.append((peers, list(peers.assignment())))
        if time.monotonic() - self._end_offsets_at > END_OFFSETS_REFRESH_S:
            self._list_end_offsets(views)
        low, quiet = self._low_over(views)
        if quiet and self._read_since_listing:
            # A partition would count as idle, but on end offsets listed before the newest records
            # were read. Only the broker's end offsets listed *after* them show a record appended
            # before those (a deploy sent before later samples), whichever fetch or member it is
            # on: list again (at most every LISTING_INTERVAL_S; until then, the partition holds).
            if time.monotonic() - self._end_offsets_at >= LISTING_INTERVAL_S:
                self._list_end_offsets(views)
                low, quiet = self._low_over(views)
            else:
                low, _ = self._low_over(views, hold_quiet=True)
        return low

    def _list_end_offsets(self, views: list[tuple[Any, list[Any]]]) -> None:
        self._read_since_listing = False
        try:
            every = [tp for _, tps in views for tp in tps]
            if every:
                # On a connection of its own: behind a reading consumer's in-flight fetch, a
                # listing waits tens of milliseconds.
                self._end_offsets.update((self._lister or views[0][0]).end_offsets(every))
            self._end_offsets_at = time.monotonic()
        except Exception as exc:
            self._log_error(exc)

    def _low_over(self, views: list[tuple[Any, list[Any]]], hold_quiet: bool = False) -> tuple[float | None, bool]:
        """(low watermark, whether some partition was left out as quiet)."""
        low: float | None = None
        quiet = False
        now = time.monotonic()
        for c, tps in views:
            for tp in tps:
                fetched, listed = c.highwater(tp), self._end_offsets.get(tp)
                high = listed if fetched is None else fetched if listed is None else max(fetched, listed)
                try:
                    position = c.position(tp, timeout_ms=0) if high is not None else None
                except Exception:
                    position = None
                if high is not None and position is not None and position >= high:
                    # Read to its end. Its next record may still be older than the other partitions'
                    # progress (a fast producer, a batch in flight), so it holds looks back at its
                    # newest event time until it has been quiet for IDLE_AFTER_S; then it is idle.
                    if now - self._at_end_since.setdefault(tp, now) >= IDLE_AFTER_S and not hold_quiet:
                        quiet = True
                        continue
                else:
                    self._at_end_since.pop(tp, None)
                seen = self._partition_time.get(tp, float("-inf"))
                low = seen if low is None else min(low, seen)
        return low, quiet

    def _dead_letter(self, producer: Any, msg: Any, reason: str) -> None:
        """The original bytes, untouched, with headers saying why and where they came from."""
        headers = [
            (HEADER_PREFIX + "reason", reason.encode()),
            (HEADER_PREFIX + "source.topic", msg.topic.encode()),
            (HEADER_PREFIX + "source.partition", str(msg.partition).encode()),
            (HEADER_PREFIX + "source.offset", str(msg.offset).encode()),
        ]
        producer.send(self.settings.topic_dlq, value=msg.value or b"", key=msg.key, headers=headers)

    def _commit(self, consumer: Any, sync: bool = False) -> None:
        """Commit every owned partition's position with fresh handoff metadata: those with no new
        records too (an empty one as well), so that a later owner finds up-to-date metadata for
        every partition it gets and does not re-read more than it must.

        A partition still warming up keeps its commit: the previous owner's offset and metadata
        stay true until this process has read past them.
        """
        from kafka.structs import OffsetAndMetadata

        if self.pipeline.has_unwritten:
            return  # the store has not taken this batch's effects: its records must be read again
        engine = self.pipeline.engine
        meta = _Handoff(engine.open_since(), engine.looked_until).encode()
        offsets = {}
        for tp in consumer.assignment():
            try:
                position = consumer.position(tp, timeout_ms=0)
            except Exception:
                continue
            if position is not None and position >= self._rebuild.warm_until.get(tp, -1):
                offsets[tp] = OffsetAndMetadata(position, meta, -1)
        if not offsets:
            return
        if sync:
            consumer.commit(offsets)
        else:
            # The store write is done: the commit may travel while the next batch is processed.
            # A lost one is covered by the next (same partitions, later offsets), and the last
            # commit before leaving is synchronous.
            consumer.commit_async(offsets, callback=self._committed)

    def _committed(self, offsets: Any, response: Any) -> None:
        if isinstance(response, Exception):
            self._log_error(response)

    def _rewind(self, consumer: Any, peers: Any) -> None:
        """Fresh engine; rewind every partition read to rebuild the analyses still open.

        Owned partitions are read again from ``open_since - lookback`` (the earliest open analysis's
        baseline and earlier days) up to their committed offsets in *warm-up*; peer partitions are
        read from the same time on. The engine is deterministic in event time, so the rebuilt
        analyses give the verdicts an uninterrupted run gives; their looks up to the previous
        owners' ``looked_until`` emit nothing (stored already), later ones are written (idempotent).
        """
        from kafka.structs import TopicPartition

        self._rebuild.needed = False
        owned = list(consumer.assignment())
        engine = self._engine_factory()
        self.pipeline.replace_engine(engine)
        self._partition_time = {}
        self._at_end_since = {}
        self._end_offsets, self._end_offsets_at = {}, 0.0
        committed: dict[Any, int] = {}
        handoffs: list[_Handoff | None] = []
        for tp in owned:
            c = consumer.committed(tp, metadata=True)
            if c is None or c.offset is None or c.offset < 0:
                continue
            committed[tp] = c.offset
            handoffs.append(_Handoff.decode(c.metadata))
        peer_tps: list[Any] = []
        if peers is not None:
            topics = (self.settings.topic_metrics, self.settings.topic_deploys)
            every = {TopicPartition(t, p) for t in topics for p in (consumer.partitions_for_topic(t) or ())}
            peer_tps = sorted(every - set(owned), key=lambda tp: (tp.topic, tp.partition))
            peers.assign(peer_tps)
        known = [h for h in handoffs if h is not None]
        # A partition no member ever committed but which holds records: the first start, or one
        # added to the topic. (Members commit every partition they read, empty ones too.)
        firsts, ends = consumer.beginning_offsets(owned), consumer.end_offsets(owned)
        fresh = [tp for tp in owned if tp not in committed and firsts[tp] < ends[tp]]
        rebuild = self._rebuild
        if not committed or len(known) < len(handoffs) or fresh:
            # Nothing committed yet, no handoff metadata, or a partition never read: read everything
            # there is. Warm deploys are then analysed in full and every effect is written again
            # (the writes are idempotent).
            start_ts = None
            rebuild.analyse_from = rebuild.written_until = float("-inf")
        else:
            rebuild.analyse_from = min(h.open_since for h in known)
            rebuild.written_until = min(h.looked_until for h in known)
            start_ts = rebuild.analyse_from - engine.lookback - engine.config.step
        rebuild.warm_until = dict(committed)
        for c, tps in ((consumer, owned), (peers, peer_tps)):
            if not tps:
                continue
            if start_ts is None or start_ts == float("-inf"):
                c.seek_to_beginning(*tps)
            else:
                found = c.offsets_for_times({tp: int(max(0.0, start_ts) * 1000) for tp in tps})
                ends = c.end_offsets(tps)
                for tp in tps:
                    o = found.get(tp)
                    # Never past an owned partition's committed offset: what follows it is not done.
                    c.seek(tp, min(o.offset if o is not None else ends[tp], committed.get(tp, ends[tp])))
        log.info(
            "rebuilt engine state: %d owned and %d peer partition(s) from event time %s (%d to warm up)",
            len(owned),
            len(peer_tps),
            start_ts,
            len(committed),
        )

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

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

A store that refuses a write (down, locked, full) stops the loop where it is: the effects stay
unwritten in the pipeline, the partitions are paused and nothing is committed until the store
takes them; then reading resumes. Nothing is skipped and, the writes being keyed, nothing doubled.

This module is the poll loop. What it decides lives apart, each testable alone:
``consumers/offsets.py`` (handoff metadata, rewind plan, commits, low watermark),
``consumers/clients.py`` (the Kafka clients), ``aiops/parsing.py`` (bytes to records); how a
process runs it is ``consumers/process.py``.
"""

from __future__ import annotations

import contextlib
import logging
import operator
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from aiops.config import Settings
from aiops.consumers import clients
from aiops.consumers.clients import kafka_client_options
from aiops.consumers.decode import decode_messages
from aiops.consumers.offsets import (
    NEVER_LIVE,
    Handoff,
    PartitionView,
    RebalanceWatch,
    Rewind,
    Watermark,
    commit_offsets,
    peer_reads,
    plan_rewind,
    seek_offset,
)
from aiops.consumers.rollups import Outgoing, Progress, RollupsLink
from aiops.engine import Engine, KnownDeploy
from aiops.metrics import Metrics
from aiops.model import ChangeEvent, Record
from aiops.pipeline import Pipeline, build_engine
from aiops.rollups import MINUTE, PeerMinutes, grid_ceil
from aiops.store.base import StoreUnavailable

log = logging.getLogger("aiops.consumers")
_event_time = operator.attrgetter("ts")  # the batch's sort key: cheaper than a lambda per record

MAX_POLL_RECORDS = 5000
CALIBRATION_REFRESH_S = 60.0
HEADER_PREFIX = "aiops."
__all__ = ["ConsumerRunner", "kafka_client_options"]


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
        self._engine_factory = engine_factory or (lambda: build_engine(settings, pipeline.engine.calibration))
        self.peer_view = settings.peer_view and settings.engine.fleet_check
        # The peers read as the rollups their owners publish (consumers/rollups.py), not raw.
        self.rollups = self.peer_view and settings.peer_rollups
        self._link = RollupsLink(settings.engine.lateness)
        self._rollups_partitions = 0  # the rollups topic has at least this many partitions
        self._deliveries: queue.SimpleQueue[tuple[Outgoing, BaseException | None]] = queue.SimpleQueue()
        # Messages and bytes decoded and published, by kind: what the scale-out benchmark reads.
        self.read_counts: dict[str, list[int]] = {}
        self._stop = threading.Event()
        self._assigned = threading.Event()  # set by the rebalance listener: rebuild before reading on
        self._rebalance = RebalanceWatch()
        self._rewind_plan = Rewind()
        self._watermark = Watermark()
        self._changes: list[ChangeEvent] = []  # this batch's CDEvents change.merged, stored with it
        self._lister: Any = None
        self._calibrated_at = float("-inf")
        self._last_error_log = 0.0
        self._holding = False  # the store failed a write: partitions paused, no commits until it takes it
        self.batches = 0

    def stop(self) -> None:
        self._stop.set()

    def _open_clients(self) -> tuple[Any, Any, Any, Any] | None:
        """(group consumer, peer consumer or None, lister, producer), waiting for the broker: a
        process that starts while the broker is away (or restarting) must not die of it. None
        when stopped first."""
        while not self._stop.is_set():
            opened: list[Any] = []
            try:
                opened.append(self._group_consumer())
                opened.append(clients.peer_consumer(self.settings, MAX_POLL_RECORDS) if self.peer_view else None)
                opened.append(clients.lister(self.settings))
                opened.append(clients.producer(self.settings))
                return opened[0], opened[1], opened[2], opened[3]
            except Exception as exc:
                self._log_error(exc)
                for client in opened:
                    with contextlib.suppress(Exception):
                        if client is not None:
                            client.close()
                self._stop.wait(2.0)
        return None

    def _group_consumer(self) -> Any:
        def on_assigned() -> None:
            self._rebalance.assigned()
            self._assigned.set()

        return clients.group_consumer(
            self.settings, MAX_POLL_RECORDS, clients.listener(on_assigned, self._rebalance.revoked)
        )

    def _rejoin(self, consumer: Any) -> Any:
        """A new group client for one stuck in a rebalance (:class:`RebalanceWatch`); None if stopped
        while the broker could not be reached."""
        log.warning(
            "no partitions assigned %.0f s after a rebalance began: the group client is stuck in it; "
            "leaving the group and joining again with a new client",
            self._rebalance.patience,
        )
        with contextlib.suppress(Exception):
            consumer.close(autocommit=False)
        self._rebalance.assigned()  # the new client's first join starts the watch again
        while not self._stop.is_set():
            try:
                return self._group_consumer()
            except Exception as exc:
                self._log_error(exc)
                self._stop.wait(2.0)
        return None

    def run(self) -> None:
        opened = self._open_clients()
        if opened is None:
            return
        consumer, peers, self._lister, producer = opened
        try:
            while not self._stop.is_set():
                try:
                    if self._rebalance.stuck():
                        consumer = self._rejoin(consumer)
                        if consumer is None:
                            return
                    if self._holding:
                        self._hold(consumer, peers, producer)
                    else:
                        self._step(consumer, peers, producer)
                except Exception as exc:  # broker gone, commit failed, store away: back off, retry
                    if self.pipeline.has_unwritten and not self._holding:
                        # Whatever the store said (away, full, or an error nobody foresaw): reading
                        # on would pile up effects that cannot be committed. Hold until it takes them.
                        self._start_holding(consumer, peers, exc)
                    else:
                        self._log_error(exc)
                        self._stop.wait(1.0 if isinstance(exc, StoreUnavailable) else 2.0)
        finally:
            try:
                if consumer is not None and not self._assigned.is_set() and not self.pipeline.has_unwritten:
                    self._commit(consumer, sync=True)
            except Exception as exc:
                log.warning("last commit: %s", exc)
            try:
                if consumer is not None:
                    consumer.close(autocommit=False)  # leaves the group so partitions move at once
                if peers is not None:
                    peers.close(autocommit=False)
                if self._lister is not None:
                    self._lister.close(autocommit=False)
            except Exception as exc:
                log.warning("closing consumer: %s", exc)
            producer.close(timeout=5)
            log.info("read and published: %s", self.read_summary())

    def read_summary(self) -> str:
        """``kind=messages/bytes ...``: what this process decoded (owned, peer, rollups) and published."""
        return " ".join(f"{kind}={n}/{b}" for kind, (n, b) in sorted(self.read_counts.items()))

    def _count_read(self, kind: str, messages: list[Any]) -> None:
        n, size = len(messages), sum(len(m.value or b"") for m in messages)
        counts = self.read_counts.setdefault(kind, [0, 0])
        counts[0] += n
        counts[1] += size
        if self.metrics:
            self.metrics.consumer_read.labels(kind=kind).inc(n)
            self.metrics.consumer_read_bytes.labels(kind=kind).inc(size)

    def _start_holding(self, consumer: Any, peers: Any, exc: Exception) -> None:
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
        if self._assigned.is_set():
            # New partitions: the rebuilt engine reads everything uncommitted again, so what was
            # unwritten is emitted again (replace_engine drops it) and reading starts afresh.
            self._holding = False
            consumer.resume(*consumer.assignment())
            if peers is not None:
                peers.resume(*peers.assignment())
            self._rewind(consumer, peers)  # assigns the peers anew: resumed before, whatever happens
            return
        try:
            self.pipeline.write_unwritten()
        except Exception as exc:
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
        if self.pipeline.has_unwritten:
            # Never poll past effects the store has not taken: the pipeline would refuse the new
            # records, and their offsets would be committed with the held ones.
            self._start_holding(consumer, peers, StoreUnavailable("earlier effects are not stored yet"))
            return
        if time.monotonic() - self._calibrated_at > CALIBRATION_REFRESH_S:
            # Feedback given through any API process reaches every consumer within a minute.
            self.pipeline.refresh_calibration()
            self._calibrated_at = time.monotonic()
        reading_peers = peers is not None and bool(peers.assignment())
        polled = consumer.poll(timeout_ms=200 if reading_peers else 500, max_records=MAX_POLL_RECORDS)
        if self._assigned.is_set():
            self._rewind(consumer, peers)
            return  # what this poll fetched came from the old positions; fetch again after the seek
        peer_polled = peers.poll(timeout_ms=0 if polled else 300, max_records=MAX_POLL_RECORDS) if reading_peers else {}
        if not polled and not peer_polled:
            self.pipeline.set_horizon_limit(self._low_watermark(consumer, peers))
            if self.rollups:
                self._publish(consumer, producer)  # an owned partition gone idle: its part-minutes
            self.pipeline.advance("kafka")
            self._report_lag(consumer)
            return
        started = time.perf_counter()
        records: list[Record | KnownDeploy | PeerMinutes] = []
        live = rejected = skipped = 0
        plan = self._rewind_plan
        metrics_topic = self.settings.topic_metrics
        for tp, messages in polled.items():
            first = len(records)
            n_live, n_rejected, n_skipped = self._read(
                tp, messages, records, producer, plan.live_from(tp), plan.analyse_from
            )
            live, rejected, skipped = live + n_live, rejected + n_rejected, skipped + n_skipped
            self._count_read("owned", messages)
            if self.rollups and tp.topic == metrics_topic:
                self._link.publisher.note(tp.partition, records[first:])
        for tp, messages in peer_polled.items():
            if tp.topic == self.settings.topic_rollups:
                self._count_read("rollups", messages)
                self._link.read((m.value or b"" for m in messages), records, self._watermark.newest, self._bad_rollup)
                continue
            # Another member's partitions: their samples are this process's control group; their
            # deploys only say which services are no control. Their owner stores and commits them.
            self._read(tp, messages, records, producer, live_from=NEVER_LIVE, analyse_from=float("inf"))
            self._count_read("peer", messages)
        self._watermark.read([*polled, *peer_polled])
        # One pass in event time over every partition read (each is in order, the batch as a whole
        # not), so a look sees every record at or before its checkpoint, as a replay would.
        records.sort(key=_event_time)
        self.pipeline.set_horizon_limit(self._low_watermark(consumer, peers))
        changes, self._changes = self._changes, []
        result = self.pipeline.ingest_records(records, (), skipped, source="kafka", accepted=live, changes=changes)
        if self.rollups:
            self._publish(consumer, producer)
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

    def _bad_rollup(self, reason: str) -> None:
        # Not ours to dead-letter: another process wrote it (a newer version, or by hand).
        self._log_error(ValueError(f"{self.settings.topic_rollups}: {reason}"))

    def _ensure_rollups_topic(self, partitions: int) -> None:
        if partitions > self._rollups_partitions:
            clients.ensure_rollups_topic(self.settings, partitions)
            self._rollups_partitions = partitions

    def _publish(self, consumer: Any, producer: Any) -> None:
        """Publish the owned metrics partitions' minutes that are due (consumers/rollups.py)."""

        def progress(tp: Any) -> Progress | None:
            position = _position(consumer, tp)
            if position is None:
                return None
            # "At the end" once the partition counts as idle here (5 s at its end): its readers
            # then count it idle at once; the part-minutes go out only then, not at every pause.
            return Progress(self._watermark.newest.get(tp, float("-inf")), position, self._watermark.quiet(tp))

        publisher = self._link.publisher
        while not self._deliveries.empty():  # acknowledgements and failures since the last call
            out, error = self._deliveries.get_nowait()
            if error is not None:
                self._log_error(RuntimeError(f"rollup {out.key.decode()} not delivered, sent again: {error}"))
            publisher.settled(out, error)
        sent = self._link.due(self.pipeline.engine.history, progress)
        for out in sent:
            try:
                future = producer.send(
                    self.settings.topic_rollups,
                    value=out.value,
                    key=out.key,
                    partition=out.partition,
                    timestamp_ms=out.timestamp_ms,
                )
            except Exception as exc:  # the producer's buffer stayed full: the same as undelivered
                self._deliveries.put((out, exc))
                continue
            # Called on the producer's thread: only queued here, settled on this one.
            future.add_callback(lambda _meta, out=out: self._deliveries.put((out, None)))
            future.add_errback(lambda exc, out=out: self._deliveries.put((out, exc)))
        if sent:
            counts = self.read_counts.setdefault("published", [0, 0])
            counts[0] += len(sent)
            counts[1] += sum(len(o.value) for o in sent)

    def _read(
        self,
        tp: Any,
        messages: list[Any],
        records: list[Record | KnownDeploy | PeerMinutes],
        producer: Any,
        live_from: int,
        analyse_from: float,
    ) -> tuple[int, int, int]:
        """Decode one partition's messages into ``records`` (consumers/decode.py) and dead-letter
        the bad ones; (live records, rejected, skipped)."""
        decoded = decode_messages(
            messages,
            records,
            live_from=live_from,
            analyse_from=analyse_from,
            written_until=self._rewind_plan.written_until,
            newest=self._watermark.newest.get(tp, float("-inf")),
            max_bytes=self.settings.max_record_bytes,
            service_labels=self.settings.service_labels,
        )
        self._watermark.newest[tp] = decoded.newest
        self._changes.extend(decoded.changes)
        for msg, reason in decoded.bad:
            self._dead_letter(producer, msg, reason)
        return decoded.live, len(decoded.bad), decoded.skipped

    def _low_watermark(self, consumer: Any, peers: Any) -> float | None:
        """Event time up to which every partition read (owned or peer) with data left has been read
        (the rules: :class:`~aiops.consumers.offsets.Watermark`)."""
        views = [(consumer, list(consumer.assignment()))]
        if peers is not None:
            # The rollups partitions have no event time of their own: the metrics partitions they
            # stand for are placed below.
            rollups_topic = self.settings.topic_rollups
            views.append((peers, [tp for tp in peers.assignment() if tp.topic != rollups_topic]))

        def partitions() -> list[PartitionView]:
            read = [PartitionView(tp, c.highwater(tp), _position(c, tp)) for c, tps in views for tp in tps]
            return read + self._link.views()  # the partitions read as rollups: where their owners said

        return self._watermark.low_watermark(partitions, self._list_end_offsets)

    def _list_end_offsets(self, tps: list[Any]) -> dict[Any, int] | None:
        # On a connection of its own: behind a reading consumer's in-flight fetch, a listing waits
        # tens of milliseconds. A failed listing leaves the partitions holding until the next one.
        try:
            return dict(self._lister.end_offsets(tps))
        except Exception as exc:
            self._log_error(exc)
            return None

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
        meta = Handoff(engine.open_since(), engine.looked_until).encode()
        positions = {tp: _position(consumer, tp) for tp in consumer.assignment()}
        offsets = {
            tp: OffsetAndMetadata(position, meta, -1)
            for tp, position in commit_offsets(positions, self._rewind_plan).items()
        }
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

        All or nothing: the engine is replaced first, so a rewind that fails half-way (the broker
        just restarted and a listing or the rollups topic's creation failed) is tried again whole
        before anything more is read; reading on from where the old engine was would judge
        without the history the fresh one lacks.
        """
        self._assigned.clear()
        try:
            self._rebuild(consumer, peers)
        except BaseException:
            self._assigned.set()
            raise

    def _rebuild(self, consumer: Any, peers: Any) -> None:
        from kafka.structs import TopicPartition

        owned = list(consumer.assignment())
        engine = self._engine_factory()
        self.pipeline.replace_engine(engine)
        self._watermark.reset()
        committed: dict[Any, tuple[int, str | None]] = {}
        for tp in owned:
            c = consumer.committed(tp, metadata=True)
            if c is not None and c.offset is not None and c.offset >= 0:
                committed[tp] = (c.offset, c.metadata)
        peer_tps: list[Any] = []
        metrics_topic = self.settings.topic_metrics
        read_as_rollups: dict[int, Any] = {}
        if peers is not None:
            topics = (metrics_topic, self.settings.topic_deploys)
            every = [TopicPartition(t, p) for t in topics for p in (consumer.partitions_for_topic(t) or ())]
            if self.rollups:
                self._ensure_rollups_topic(len(consumer.partitions_for_topic(metrics_topic) or ()))
            rollups_topic = self.settings.topic_rollups
            peer_tps, read_as_rollups = peer_reads(
                every, owned, metrics_topic, self.rollups, lambda n: TopicPartition(rollups_topic, n)
            )
            peers.assign(peer_tps)
        firsts, ends = consumer.beginning_offsets(owned), consumer.end_offsets(owned)
        plan = plan_rewind(committed, owned, firsts, ends, engine.lookback + engine.config.step)
        self._rewind_plan = plan
        # Reading starts at plan.start_ts: the minute it falls in would be published in part.
        self._link.assign(
            {tp.partition: tp for tp in owned if tp.topic == metrics_topic},
            read_as_rollups,
            float("-inf") if plan.start_ts is None else grid_ceil(plan.start_ts, MINUTE),
        )
        for c, tps in ((consumer, owned), (peers, peer_tps)):
            if not tps:
                continue
            if plan.start_ts is None:
                c.seek_to_beginning(*tps)
                continue
            found = c.offsets_for_times({tp: int(max(0.0, plan.start_ts) * 1000) for tp in tps})
            tp_ends = c.end_offsets(tps)
            for tp in tps:
                o = found.get(tp)
                c.seek(tp, seek_offset(o.offset if o is not None else None, tp_ends[tp], plan.warm_until.get(tp)))
        log.info(
            "rebuilt engine state: %d owned and %d peer partition(s) from event time %s (%d to warm up)",
            len(owned),
            len(peer_tps),
            plan.start_ts,
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


def _position(consumer: Any, tp: Any) -> int | None:
    """The next offset ``consumer`` reads from ``tp``, without waiting (None while it is unknown)."""
    try:
        position: int | None = consumer.position(tp, timeout_ms=0)
        return position
    except Exception:
        return None

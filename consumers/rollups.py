"""The rollups transport: each process publishes its partitions' minutes; the others read those.

Every process needs the whole fleet as its control group (docs/kafka.md), but reading the other
members' raw samples makes every process decode every partition. Instead the owner of metrics
partition ``p`` publishes the rollups (:mod:`aiops.rollups`) of that partition's series on
partition ``p`` of the rollups topic, and every other process reads those: a few bytes a series a
minute where the raw samples are two or more records.

What an owner publishes, after each batch, for each metrics partition it owns:

- every *closed* minute that new samples touched: a minute ``m`` is closed once the partition's
  newest event time is past ``m + 60 + lateness`` (later samples would be later than the lateness);
  one message per minute, keyed ``<partition>:<minute>`` (the topic is compacted: the latest copy
  of each minute is what stays), its timestamp the minute's start;
- once the partition counts as idle (read to its end offset for 5 s, the raw peer view's rule), the
  part-minutes too: a raw reader would have had those samples; if more come, the minute is sent
  again whole;
- its progress: the newest event time read there, the offset read to, and whether that is the end.
  It rides on the last message of the publication, so a reader has every minute before it first,
  and only once the broker has acknowledged every earlier message of that partition: a minute the
  producer could not deliver is sent again, and no reader hears of progress past it before it
  is in (:meth:`RollupPublisher.settled`).

What a reader does with them: minutes become :class:`~aiops.rollups.PeerMinutes` records (at their
minute's start: never ahead of the samples they sum up), held by
the engine until its horizon passes them (so they enter the rollups exactly when a raw reader
would have rolled them up); the progress becomes that partition's place in the low watermark, as
if the reader had read the raw partition to the owner's offset. The partition counts as idle only
when the owner said it was idle *and* that offset is still the end the reader lists (then at once:
the owner waited already): a killed owner publishes nothing, and its silence must hold looks back,
not read as "no peers".

>>> pub = RollupPublisher(lateness=0.0)
>>> from aiops.history import FleetHistory
>>> fleet = FleetHistory()
>>> from aiops.model import MetricSample
>>> samples = [MetricSample("api", "latency", float(t), 1.0 + t) for t in range(0, 150, 30)]
>>> for s in samples:
...     fleet.add_sample(s.service, s.metric, s.ts, s.value)
>>> pub.note(0, samples)
>>> out = pub.due(fleet, {0: Progress(newest=120.0, offset=5, at_end=False)})
>>> [(o.key, decode(o.value).minute) for o in out]  # minutes 0 and 60 are closed; 120 is not
[(b'0:0', 0.0), (b'0:60', 60.0)]
>>> decode(out[-1].value).progress
Progress(newest=120.0, offset=5, at_end=False)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from aiops.consumers.offsets import PartitionView
from aiops.history import FleetHistory
from aiops.model import MetricSample
from aiops.rollups import Minute, PeerMinutes, minute_floor, minute_means_each

FORMAT = 1  # the "v" of every message: a reader refuses what it does not know
# A publication at most this large goes in one producer batch (clients.producer: 512 KiB), so its
# minutes and the progress on its last message are delivered together or not at all.
ONE_BATCH_BYTES = 256 << 10


class Progress(NamedTuple):
    """How far an owner has read a metrics partition."""

    newest: float  # newest event time read there
    offset: int  # the next offset it reads
    at_end: bool  # the partition counted as idle there (at that offset, its end, for 5 s)


class Outgoing(NamedTuple):
    """One message for partition ``partition`` of the rollups topic."""

    partition: int
    key: bytes
    value: bytes
    timestamp_ms: int | None  # None: the producer's clock (see RollupPublisher)
    minute: float | None = None  # the minute it carries (None: progress only)
    epoch: int = 0  # the publisher's epoch it was made in: a delivery reported after a reset is stale


@dataclass(frozen=True, slots=True)
class RollupMessage:
    """A decoded message: one minute of a partition's series, its owner's progress, or both."""

    partition: int
    minute: float | None
    series: tuple[tuple[str, str, float, float], ...]  # (service, metric, mean time, mean value)
    progress: Progress | None


class RollupFormatError(ValueError):
    """A message on the rollups topic this version cannot read."""


def encode(
    partition: int, minute: float | None, series: Sequence[tuple[str, str, float, float]], progress: Progress | None
) -> bytes:
    """One message's bytes: JSON, each service named once, each series as its mean time's offset
    into the minute and its mean value. Every bit of both comes back: ``orjson`` writes a float's
    shortest exact form, and ``t - minute`` is exact for event times past 0 (Sterbenz: ``t`` is
    within a factor 2 of ``minute``); where it is not, the absolute time goes as a third item.

    >>> decode(encode(3, 60.0, [("api", "latency", 75.0, 0.25)], None))
    RollupMessage(partition=3, minute=60.0, series=(('api', 'latency', 75.0, 0.25),), progress=None)
    """
    services: dict[str, dict[str, list[float]]] = {}
    for service, metric, t, v in series:
        offset = t - minute if minute is not None else t
        entry = [offset, v] if minute is not None and minute + offset == t else [offset, v, t]
        services.setdefault(service, {})[metric] = entry
    body: dict[str, Any] = {"v": FORMAT, "p": partition, "m": minute, "s": services}
    if progress is not None:
        # -inf (an owned partition with nothing in it yet) has no JSON form: null.
        newest = progress.newest if math.isfinite(progress.newest) else None
        body["n"], body["o"], body["e"] = newest, progress.offset, progress.at_end
    return orjson.dumps(body)


def decode(value: bytes) -> RollupMessage:
    """A message's bytes back; :class:`RollupFormatError` naming what is wrong.

    >>> try:
    ...     decode(b'{"v": 2}')
    ... except RollupFormatError as exc:
    ...     print(exc)
    v: format 2 is not known here (this version reads 1)
    """
    try:
        body = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise RollupFormatError(f"not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise RollupFormatError("not a JSON object")
    if body.get("v") != FORMAT:
        raise RollupFormatError(f"v: format {body.get('v')} is not known here (this version reads {FORMAT})")
    try:
        minute = body["m"]
        base = 0.0 if minute is None else float(minute)
        series = tuple(
            (str(service), str(metric), float(e[2]) if len(e) > 2 else base + float(e[0]), float(e[1]))
            for service, metrics in body["s"].items()
            for metric, e in metrics.items()
        )
        newest = float("-inf") if body.get("n") is None else float(body["n"])
        progress = Progress(newest, int(body["o"]), bool(body["e"])) if "o" in body else None
        return RollupMessage(int(body["p"]), None if minute is None else float(minute), series, progress)
    except (KeyError, TypeError, ValueError) as exc:
        raise RollupFormatError(f"malformed: {type(exc).__name__}: {exc}") from None


class RollupPublisher:
    """An owner's side: which minutes of its metrics partitions to publish, and when.

    Pure: fed the samples read (:meth:`note`) and each partition's progress, it reads the samples
    back from the engine's history and returns the messages (:meth:`due`); the runner sends them.
    """

    def __init__(self, lateness: float) -> None:
        self.lateness = lateness
        self.publish_from = float("-inf")
        # partition -> (service, metric) -> earliest sample time not published since it was read
        self._dirty: dict[int, dict[tuple[str, str], float]] = {}
        self._announced: dict[int, Progress] = {}
        self._series: dict[int, set[tuple[str, str]]] = {}  # every series read, per partition
        self._in_flight: dict[int, int] = {}  # messages handed to the producer, not yet settled
        self.epoch = 0

    def reset(self, publish_from: float) -> None:
        """After a rewind: forget everything; publish no minute before ``publish_from`` (the read
        starts there, so an earlier minute would be a part of itself)."""
        self.publish_from = publish_from
        self._dirty.clear()
        self._announced.clear()
        self._series.clear()
        self._in_flight.clear()
        self.epoch += 1

    def settled(self, out: Outgoing, error: BaseException | None) -> None:
        """The broker acknowledged ``out`` (``error`` None) or it could not be delivered: then its
        minute is published again whole, with every series of the partition, and the progress is
        announced again. Until every message of a partition is settled no progress goes out for
        it, so no reader moves past a minute that is not in.

        >>> pub = RollupPublisher(lateness=0.0)
        >>> from aiops.history import FleetHistory
        >>> from aiops.model import MetricSample
        >>> fleet = FleetHistory()
        >>> fleet.add_sample("api", "cpu", 10.0, 0.5)
        >>> pub.note(0, [MetricSample("api", "cpu", 10.0, 0.5)])
        >>> [first] = pub.due(fleet, {0: Progress(10.0, 1, True)})
        >>> pub.due(fleet, {0: Progress(10.0, 1, True)})  # sent, not yet acknowledged: nothing new
        []
        >>> pub.settled(first, TimeoutError("broker away"))
        >>> [again] = pub.due(fleet, {0: Progress(10.0, 1, True)})
        >>> decode(again.value) == decode(first.value)
        True
        """
        if out.epoch != self.epoch:
            return  # made before a rewind: the publication it belonged to was started over
        self._in_flight[out.partition] -= 1
        if error is None:
            return
        self._announced.pop(out.partition, None)
        if out.minute is not None:
            dirty = self._dirty.setdefault(out.partition, {})
            for key in self._series.get(out.partition, ()):
                first = dirty.get(key)
                dirty[key] = out.minute if first is None else min(first, out.minute)

    def note(self, partition: int, records: Iterable[object]) -> None:
        """Samples read on an owned metrics partition (anything else in ``records`` is passed over)."""
        dirty = self._dirty.get(partition)
        if dirty is None:
            dirty = self._dirty[partition] = {}
        for record in records:
            if type(record) is MetricSample:
                key = (record.service, record.metric)
                first = dirty.get(key)
                if first is None:
                    dirty[key] = record.ts
                    self._series.setdefault(partition, set()).add(key)
                elif record.ts < first:
                    dirty[key] = record.ts

    def due(self, history: FleetHistory, progress: Mapping[int, Progress]) -> list[Outgoing]:
        """The messages to publish now, per partition in minute order, its progress on the last."""
        out: list[Outgoing] = []
        for partition, at in sorted(progress.items()):
            out.extend(self._due_on(partition, at, history))
        return out

    def _due_on(self, partition: int, at: Progress, history: FleetHistory) -> list[Outgoing]:
        dirty = self._dirty.get(partition, {})
        # At the end of the partition every part-minute goes too; else the closed minutes only.
        bound = math.inf if at.at_end else minute_floor(at.newest - self.lateness)
        keys, times, values = [], [], []
        for key, first in dirty.items():
            start = max(minute_floor(first), self.publish_from)
            series = history.series.get(key)
            if series is None or start >= bound:
                continue
            ts, vs = series.window_before(start, bound)
            if len(ts):
                keys.append(key)
                times.append(ts)
                values.append(vs)
        by_minute: dict[float, list[tuple[str, str, float, float]]] = {}
        for (service, metric), (mean_ts, means) in zip(keys, minute_means_each(times, values), strict=True):
            for t, v in zip(mean_ts, means, strict=True):
                by_minute.setdefault(minute_floor(t), []).append((service, metric, t, v))
        if at.at_end:
            dirty.clear()
        else:
            for key in keys:
                dirty[key] = max(dirty[key], bound)
        # Progress is announced whenever it moved, an empty partition's too (its readers must learn
        # that it is at its end, or they would wait for it); but not while earlier messages of the
        # partition are unacknowledged: one of them may yet fail, and be sent again.
        announce = at != self._announced.get(partition) and not self._in_flight.get(partition)
        minutes = sorted(by_minute)
        encoded = [encode(partition, minute, by_minute[minute], None) for minute in minutes]
        if announce and minutes and sum(map(len, encoded)) > ONE_BATCH_BYTES:
            announce = False  # the producer may split it in batches: announced once all are in
        if announce and minutes:
            encoded[-1] = encode(partition, minutes[-1], by_minute[minutes[-1]], at)
        out = [
            Outgoing(partition, f"{partition}:{minute:.0f}".encode(), body, int(minute * 1000), minute, self.epoch)
            for minute, body in zip(minutes, encoded, strict=True)
        ]
        if announce:
            if not minutes:
                value = encode(partition, None, (), at)
                # Stamped with the producer's clock, not event time: a reader seeks the rollups to
                # an event time after a rebuild, and must still find the latest progress.
                out.append(Outgoing(partition, f"{partition}:progress".encode(), value, None, None, self.epoch))
            self._announced[partition] = at
        if out:
            self._in_flight[partition] = self._in_flight.get(partition, 0) + len(out)
        return out


class PeerRollups:
    """A reader's side: the other owners' messages as engine records, and their progress.

    >>> peers = PeerRollups()
    >>> msg = encode(1, 60.0, [("db", "cpu", 80.0, 0.5)], Progress(200.0, 17, True))
    >>> peers.apply(decode(msg))
    [PeerMinutes(ts=60.0, minutes=(('db', 'cpu', 60.0, 80.0, 0.5),)), PeerMinutes(ts=200.0, minutes=())]
    >>> peers.progress[1]
    Progress(newest=200.0, offset=17, at_end=True)
    """

    def __init__(self) -> None:
        self.progress: dict[int, Progress] = {}

    def reset(self) -> None:
        self.progress.clear()

    def apply(self, message: RollupMessage) -> list[PeerMinutes]:
        """The records for the engine (minutes at the end of their minute; progress at its newest
        event time). Progress only moves forward: after a rebuild its new owner reads the partition
        again from earlier, and says so, but what was published before stays true."""
        out = []
        if message.minute is not None and message.series:
            minute = message.minute
            rows: tuple[Minute, ...] = tuple((s, m, minute, t, v) for s, m, t, v in message.series)
            out.append(PeerMinutes(minute, rows))
        at = message.progress
        if at is not None:
            known = self.progress.get(message.partition)
            if known is None or at.newest >= known.newest:
                self.progress[message.partition] = at
            out.append(PeerMinutes(at.newest))
        return out


class RollupsLink:
    """One consumer process's end of the transport: the metrics partitions it owns publish, the
    others are read. Kafka stays in the runner: partitions are its keys, messages are its values.

    >>> link = RollupsLink(lateness=0.0)
    >>> link.assign(owned={0: "m0"}, read={1: "m1"}, publish_from=float("-inf"))
    >>> link.views()  # nothing heard from partition 1's owner: it holds looks back
    [PartitionView(tp='m1', fetched_high=None, position=None, idle_after=0.0)]
    >>> newest = {}
    >>> link.read([encode(1, None, (), Progress(600.0, 40, True))], [], newest, print)
    >>> link.views(), newest
    ([PartitionView(tp='m1', fetched_high=None, position=40, idle_after=0.0)], {'m1': 600.0})
    """

    def __init__(self, lateness: float) -> None:
        self.publisher = RollupPublisher(lateness)
        self.peers = PeerRollups()
        self.owned: dict[int, Hashable] = {}  # partition -> its metrics partition's key, owned here
        self.read_from: dict[int, Hashable] = {}  # the same for those read as rollups

    def assign(self, owned: Mapping[int, Hashable], read: Mapping[int, Hashable], publish_from: float) -> None:
        """After a rewind: what is owned now, what is read, and from which minute to publish."""
        self.owned, self.read_from = dict(owned), dict(read)
        self.peers.reset()
        self.publisher.reset(publish_from)

    def read(
        self,
        values: Iterable[bytes],
        records: list[Any],
        newest: MutableMapping[Hashable, float],
        on_error: Callable[[str], None],
    ) -> None:
        """Other owners' messages: their minutes appended to ``records`` for the engine, their
        progress into ``newest`` (the low watermark's newest event time per partition). A message
        this version cannot read is reported and passed over: its owner's progress stops there, so
        looks wait rather than judge without those peers."""
        for value in values:
            try:
                message = decode(value)
            except RollupFormatError as exc:
                on_error(str(exc))
                continue
            records.extend(self.peers.apply(message))
            tp = self.read_from.get(message.partition)
            at = self.peers.progress.get(message.partition)
            if tp is not None and at is not None:
                newest[tp] = at.newest

    def views(self) -> list[PartitionView]:
        """The partitions read as rollups, for the low watermark: where their owners said they had
        read to; at their end only when the owner said it was idle (then idle at once: it waited)."""
        views = []
        for partition, tp in self.read_from.items():
            at = self.peers.progress.get(partition)
            views.append(PartitionView(tp, None, at.offset if at is not None and at.at_end else None, 0.0))
        return views

    def due(self, history: FleetHistory, progress: Callable[[Hashable], Progress | None]) -> list[Outgoing]:
        """What to publish now, from each owned partition's ``progress`` (None: not known yet)."""
        known = {p: at for p, tp in self.owned.items() if (at := progress(tp)) is not None}
        return self.publisher.due(history, known)

"""A consumer's offset and handoff bookkeeping, apart from Kafka, so that each rule is a table of cases.

The poll loop (consumers/runner.py) asks the broker and moves the consumers; what it decides with
the answers lives here, as plain data and pure functions:

- :class:`Handoff`: what a member leaves in each commit's metadata for the next owner.
- :func:`plan_rewind`: after an assignment, from the committed offsets and their handoffs, the
  event time to read from again, and which records are *warm* (read for state only: the previous
  owner stored their effects before it committed).
- :func:`seek_offset`: where each partition is read from after the rewind.
- :func:`commit_offsets`: which positions may be committed (a partition still warming up keeps
  the previous owner's offset and metadata until it has read past them).
- :class:`Watermark`: per partition the newest event time read and since when it has been read to
  its end; the *low watermark* that no look may pass, and when an end offset must be listed again
  before a partition counts as idle.
- :class:`RebalanceWatch`: whether the group client is stuck in a rebalance it never finishes.
- :func:`peer_reads`: which partitions a member reads besides its own, and which of those as the
  rollups their owners publish.

At-least-once: an offset is committed only when everything before it was processed and its effects
stored; anything read again after a crash is written again by keyed, idempotent writes.

>>> plan_rewind({"p0": (120, Handoff(500.0, 900.0).encode())}, ["p0"], {"p0": 0}, {"p0": 150}, lookback=100.0)
Rewind(start_ts=400.0, analyse_from=500.0, written_until=900.0, warm_until={'p0': 120})
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

IDLE_AFTER_S = 5.0
# A rebalance of members that poll every second takes seconds; one not finished after this long is
# a client that will not finish it (see RebalanceWatch).
REJOIN_AFTER_S = 60.0
END_OFFSETS_REFRESH_S = 1.0
LISTING_INTERVAL_S = 0.25
NEVER_LIVE = 1 << 62  # a warm-up boundary no offset reaches: every message read for state only

Partition = Hashable  # kafka's TopicPartition in the runner; any key in the tests
_NEG_INF = float("-inf")


@dataclass(frozen=True, slots=True)
class Handoff:
    """What a committing member leaves in the offset metadata for whoever owns the partition next.

    >>> Handoff.decode(Handoff(float("-inf"), 12.5).encode())
    Handoff(open_since=-inf, looked_until=12.5)
    >>> Handoff.decode("committed by hand") is None
    True
    """

    open_since: float  # earliest deploy still being analysed or watched (Engine.open_since)
    looked_until: float  # every look up to here was taken and its effects stored

    def encode(self) -> str:
        return json.dumps({"open_since": _finite(self.open_since), "looked_until": _finite(self.looked_until)})

    @classmethod
    def decode(cls, text: str | None) -> Handoff | None:
        try:
            raw = json.loads(text or "{}")
            return cls(*(_NEG_INF if raw[k] is None else float(raw[k]) for k in ("open_since", "looked_until")))
        except (ValueError, TypeError, KeyError):
            return None  # committed by an older version, or by hand


def _finite(x: float) -> float | None:
    return x if x not in (float("inf"), _NEG_INF) else None


@dataclass(slots=True)
class Rewind:
    """What a rebuild found in the commits: where reading starts again and which records are warm."""

    start_ts: float | None = None  # event time to seek every partition to; None: from the beginning
    analyse_from: float = _NEG_INF  # warm deploys before this were decided and stored: noted only
    written_until: float = _NEG_INF  # warm deploys' looks up to this were stored by the previous owner
    warm_until: dict[Partition, int] = field(default_factory=dict)  # owned partition -> first live offset

    def live_from(self, tp: Partition) -> int:
        """The first offset of ``tp`` whose effects this member writes (-1: all of them)."""
        return self.warm_until.get(tp, -1)


def plan_rewind(
    committed: Mapping[Partition, tuple[int, str | None]],
    owned: Sequence[Partition],
    firsts: Mapping[Partition, int],
    ends: Mapping[Partition, int],
    lookback: float,
) -> Rewind:
    """Where a member that was just assigned ``owned`` starts reading, from what was committed.

    ``committed``: the owned partitions that have a commit, with its offset and metadata;
    ``firsts``/``ends``: their beginning and end offsets; ``lookback``: how far before the
    earliest open analysis its baseline, earlier days and first checkpoint reach.

    Everything is read from the start (and every effect written again) when nothing was committed,
    when some commit carries no handoff (an older version, or by hand), or when a partition that
    holds records was never committed (the first start, partitions added to the topic).
    """
    handoffs = [Handoff.decode(meta) for _, meta in committed.values()]
    known = [h for h in handoffs if h is not None]
    warm_until = {tp: offset for tp, (offset, _) in committed.items()}
    fresh = [tp for tp in owned if tp not in committed and firsts[tp] < ends[tp]]
    if not committed or len(known) < len(handoffs) or fresh:
        return Rewind(None, _NEG_INF, _NEG_INF, warm_until)
    analyse_from = min(h.open_since for h in known)
    written_until = min(h.looked_until for h in known)
    start_ts = None if analyse_from == _NEG_INF else analyse_from - lookback
    return Rewind(start_ts, analyse_from, written_until, warm_until)


def seek_offset(found: int | None, end: int, committed: int | None) -> int:
    """Where a partition is read from: the first record at or after the start time (its end when it
    has none), but never past its committed offset: what follows that is not done."""
    return min(found if found is not None else end, committed if committed is not None else end)


def commit_offsets(positions: Mapping[Partition, int | None], rewind: Rewind) -> dict[Partition, int]:
    """The positions to commit: every owned partition's, empty ones too (so the next owner finds
    fresh handoff metadata everywhere), except one still warming up, whose previous commit stays
    true until this member has read past it."""
    return {
        tp: position for tp, position in positions.items() if position is not None and position >= rewind.live_from(tp)
    }


class TopicPartitionLike(Protocol):
    """What a partition is to :func:`peer_reads`: kafka's ``TopicPartition``, or any tuple like it."""

    @property
    def topic(self) -> str: ...

    @property
    def partition(self) -> int: ...


class PeerReads(NamedTuple):
    """What a member reads of the partitions it does not own."""

    assign: list[TopicPartitionLike]  # for the peer consumer, in a stable order
    as_rollups: dict[int, TopicPartitionLike]  # metrics partition read as its rollups -> that metrics partition


def peer_reads(
    every: Iterable[TopicPartitionLike],
    owned: Iterable[TopicPartitionLike],
    metrics_topic: str,
    rollups: bool,
    rollup_partition: Callable[[int], TopicPartitionLike],
) -> PeerReads:
    """The partitions of the metrics and deploys topics a member does not own, read raw; with
    ``rollups``, each metrics partition among them is read as partition of the same number of the
    rollups topic (``rollup_partition(n)``) instead, and remembered as the metrics partition it
    stands for. Deploys are always read raw: they are few, and every process needs every deploy.

    >>> class Part(NamedTuple):
    ...     topic: str
    ...     partition: int
    >>> every = [Part(t, p) for t in ("metrics", "deploys") for p in (0, 1, 2)]
    >>> owned = [Part("metrics", 1), Part("deploys", 1)]
    >>> reads = peer_reads(every, owned, "metrics", True, lambda n: Part("rollups", n))
    >>> [(tp.topic, tp.partition) for tp in reads.assign]
    [('deploys', 0), ('deploys', 2), ('rollups', 0), ('rollups', 2)]
    >>> sorted(reads.as_rollups)
    [0, 2]
    """
    mine = set(owned)
    others: list[TopicPartitionLike] = sorted(
        (tp for tp in set(every) if tp not in mine), key=lambda tp: (tp.topic, tp.partition)
    )
    if not rollups:
        return PeerReads(others, {})
    as_rollups = {tp.partition: tp for tp in others if tp.topic == metrics_topic}
    assign = [tp for tp in others if tp.topic != metrics_topic]
    assign += [rollup_partition(n) for n in sorted(as_rollups)]
    return PeerReads(assign, as_rollups)


class PartitionView(NamedTuple):
    """One partition as the poll loop sees it now."""

    tp: Partition
    fetched_high: int | None  # the high watermark the last fetch returned
    position: int | None  # the next offset this member reads (or its owner read, for rollups)
    # How long it must stay at its end to count as idle (None: Watermark.idle_after). A partition
    # read as rollups: 0, because its owner waited that long before it said "at the end".
    idle_after: float | None = None


class Watermark:
    """Per partition read (owned or peer): the newest event time read and since when the partition
    has been read to its end; from those the low watermark no look may pass.

    A partition with records ahead holds looks back at its newest event time (entirely, before its
    first record). One read to its end holds them for ``idle_after`` seconds more (a fast producer
    may still append older records), then counts as idle. "Its end" is the larger of the fetch's
    high watermark and the end offset listed by the broker; a partition only counts as idle on an
    end offset listed *after* the newest records were read, so a record appended before them (a
    deploy flushed before later samples) is never skipped by taking a stale end for quiet.
    """

    def __init__(
        self,
        *,
        idle_after: float = IDLE_AFTER_S,
        refresh: float = END_OFFSETS_REFRESH_S,
        interval: float = LISTING_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.idle_after = idle_after
        self.refresh = refresh
        self.interval = interval
        self.clock = clock
        self.newest: dict[Partition, float] = {}  # newest event time read, per partition
        self.listed: dict[Partition, int] = {}  # end offsets the broker listed
        self.listed_at = float("-inf")
        self.read_since_listing = False
        self._at_end_since: dict[Partition, float] = {}
        self._read_at: dict[Partition, float] = {}  # when records of each partition were last read

    def reset(self) -> None:
        """Forget everything: the partitions are about to be read again from earlier offsets."""
        self.newest.clear()
        self.listed.clear()
        self.listed_at = float("-inf")
        self.read_since_listing = False
        self._at_end_since.clear()
        self._read_at.clear()

    def read(self, tps: Iterable[Partition] = ()) -> None:
        """Records were read (from ``tps``): an end offset listed before them may be stale."""
        self.read_since_listing = True
        now = self.clock()
        for tp in tps:
            self._read_at[tp] = now

    def quiet(self, tp: Partition) -> bool:
        """Whether ``tp`` counted as idle at the last :meth:`low_watermark`: read to its end for
        ``idle_after`` seconds, on an end offset listed after its own newest records were read
        (records of other partitions do not make its listing stale). An owner says so to the
        readers of its rollups (consumers/rollups.py), who then need not wait again."""
        since = self._at_end_since.get(tp)
        if since is None or self.clock() - since < self.idle_after:
            return False
        return self.listed_at > self._read_at.get(tp, _NEG_INF)

    def low_watermark(
        self,
        partitions: Callable[[], Iterable[PartitionView]],
        list_ends: Callable[[list[Partition]], Mapping[Partition, int] | None],
    ) -> float | None:
        """Event time up to which every partition with data left has been read (None: no partition).

        ``partitions`` gives the partitions as they are now; ``list_ends`` asks the broker for end
        offsets (None when that failed: the next call tries again), at most every ``interval``
        seconds, and every ``refresh`` seconds regardless.
        """
        if self.clock() - self.listed_at > self.refresh:
            self._list(partitions, list_ends)
        low, quiet = self._low(partitions())
        if quiet and self.read_since_listing:
            # Some partition would count as idle on end offsets listed before the newest records
            # were read. List again (at most every `interval`); until a listing succeeds it holds
            # looks back (a broker back from an outage may fail listings for a while).
            if self.clock() - self.listed_at >= self.interval:
                self._list(partitions, list_ends)
            low, _ = self._low(partitions(), hold_quiet=self.read_since_listing)
        return low

    def _list(
        self,
        partitions: Callable[[], Iterable[PartitionView]],
        list_ends: Callable[[list[Partition]], Mapping[Partition, int] | None],
    ) -> None:
        every = [p.tp for p in partitions()]
        if every:
            ends = list_ends(every)
            if ends is None:
                return  # stays stale (and records read since stay unlisted): listed again next call
            self.listed.update(ends)
        self.read_since_listing = False
        self.listed_at = self.clock()

    def _low(self, views: Iterable[PartitionView], hold_quiet: bool = False) -> tuple[float | None, bool]:
        """(low watermark, whether some partition was left out as idle)."""
        low: float | None = None
        quiet = False
        now = self.clock()
        for tp, fetched, position, idle_after in views:
            listed = self.listed.get(tp)
            high = listed if fetched is None else fetched if listed is None else max(fetched, listed)
            wait = self.idle_after if idle_after is None else idle_after
            if high is not None and position is not None and position >= high:
                if now - self._at_end_since.setdefault(tp, now) >= wait and not hold_quiet:
                    quiet = True
                    continue
            else:
                self._at_end_since.pop(tp, None)
            seen = self.newest.get(tp, _NEG_INF)
            low = seen if low is None else min(low, seen)
        return low, quiet


class RebalanceWatch:
    """Whether the group client is stuck in a rebalance: partitions revoked (a rebalance began) and
    none assigned since (not even an empty set, which is what a member with nothing to own gets),
    for ``patience`` seconds.

    Seen with kafka-python 3.0.12 under load: a member revoked its partitions, its commits failed
    with RebalanceInProgressError from then on, the group went on without it, and it never joined
    again (benchmarks/kafka_scaleout.py with 3 processes while the machine was busy: 5 runs in 13).
    The runner then closes that client and joins with a new one.

    >>> now = [0.0]
    >>> watch = RebalanceWatch(patience=60.0, clock=lambda: now[0])
    >>> watch.revoked(); now[0] = 59.0; watch.stuck()
    False
    >>> now[0] = 61.0; watch.stuck()
    True
    >>> watch.assigned(); watch.stuck()
    False
    """

    def __init__(self, patience: float = REJOIN_AFTER_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.patience = patience
        self.clock = clock
        self._revoked_at: float | None = None

    def revoked(self) -> None:
        """A rebalance began (called on the client's thread: one assignment, no lock needed)."""
        if self._revoked_at is None:
            self._revoked_at = self.clock()

    def assigned(self) -> None:
        """The rebalance finished, with whatever it gave this member."""
        self._revoked_at = None

    def stuck(self) -> bool:
        since = self._revoked_at
        return since is not None and self.clock() - since > self.patience

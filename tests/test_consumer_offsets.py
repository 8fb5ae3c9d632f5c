"""The consumer's offset and handoff rules (consumers/offsets.py), case by case, without a broker."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import NamedTuple

import pytest

from aiops.consumers.offsets import (
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

INF = math.inf
H = Handoff(1000.0, 1600.0).encode()  # an analysis open since 1000, looks stored up to 1600
H2 = Handoff(800.0, 1700.0).encode()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (Handoff(1.5, 2.5).encode(), Handoff(1.5, 2.5)),
        (Handoff(-INF, -INF).encode(), Handoff(-INF, -INF)),  # nothing open, nothing looked at yet
        ('{"open_since": 3, "looked_until": null}', Handoff(3.0, -INF)),
        (None, None),  # no metadata: committed by an older version
        ("", None),
        ("not json", None),
        ('{"open_since": 3}', None),  # a field missing
        ('{"open_since": "x", "looked_until": 1}', None),
    ],
)
def test_handoff_metadata_round_trips_and_rejects_what_it_did_not_write(text: str | None, expected: object) -> None:
    assert Handoff.decode(text) == expected


# committed: partition -> (offset, metadata); firsts/ends of every owned partition
@pytest.mark.parametrize(
    ("case", "committed", "owned", "firsts", "ends", "expected"),
    [
        (
            "nothing committed: read everything, write every effect",
            {},
            ["a", "b"],
            {"a": 0, "b": 0},
            {"a": 10, "b": 0},
            Rewind(None, -INF, -INF, {}),
        ),
        (
            "every partition committed with a handoff: from the earliest open analysis minus the lookback",
            {"a": (7, H), "b": (3, H2)},
            ["a", "b"],
            {"a": 0, "b": 0},
            {"a": 10, "b": 5},
            Rewind(800.0 - 100.0, 800.0, 1600.0, {"a": 7, "b": 3}),
        ),
        (
            "a commit without handoff metadata (an older version): everything again",
            {"a": (7, H), "b": (3, None)},
            ["a", "b"],
            {"a": 0, "b": 0},
            {"a": 10, "b": 5},
            Rewind(None, -INF, -INF, {"a": 7, "b": 3}),
        ),
        (
            "a partition with records no member committed (added to the topic): everything again",
            {"a": (7, H)},
            ["a", "b"],
            {"a": 0, "b": 0},
            {"a": 10, "b": 4},
            Rewind(None, -INF, -INF, {"a": 7}),
        ),
        (
            "an uncommitted partition that is empty changes nothing",
            {"a": (7, H)},
            ["a", "b"],
            {"a": 0, "b": 4},
            {"a": 10, "b": 4},
            Rewind(1000.0 - 100.0, 1000.0, 1600.0, {"a": 7}),
        ),
        (
            "handoffs from before any look: from the beginning",
            {"a": (2, Handoff(-INF, -INF).encode())},
            ["a"],
            {"a": 0},
            {"a": 2},
            Rewind(None, -INF, -INF, {"a": 2}),
        ),
    ],
)
def test_plan_rewind(
    case: str,
    committed: Mapping[str, tuple[int, str | None]],
    owned: list[str],
    firsts: Mapping[str, int],
    ends: Mapping[str, int],
    expected: Rewind,
) -> None:
    assert plan_rewind(committed, owned, firsts, ends, lookback=100.0) == expected, case


@pytest.mark.parametrize(
    ("found", "end", "committed", "expected"),
    [
        (5, 20, 12, 5),  # the first record at the start time, before the commit
        (15, 20, 12, 12),  # never past the committed offset: what follows it is not done
        (None, 20, 12, 12),  # no record that late: at most the commit
        (None, 20, None, 20),  # a peer partition (no commit) with no record that late: its end
        (3, 20, None, 3),
    ],
)
def test_seek_offset(found: int | None, end: int, committed: int | None, expected: int) -> None:
    assert seek_offset(found, end, committed) == expected


@pytest.mark.parametrize(
    ("positions", "warm_until", "expected"),
    [
        ({"a": 5, "b": 0}, {}, {"a": 5, "b": 0}),  # every position, an empty partition's too
        ({"a": 5, "b": 9}, {"a": 7, "b": 9}, {"b": 9}),  # a still warming up keeps the old commit
        ({"a": 7}, {"a": 7}, {"a": 7}),  # read up to the old commit: its own from now on
        ({"a": None, "b": 2}, {}, {"b": 2}),  # a position not known yet is not committed
    ],
)
def test_commit_offsets(positions: dict[str, int | None], warm_until: dict[str, int], expected: dict[str, int]) -> None:
    assert commit_offsets(positions, Rewind(warm_until=dict(warm_until))) == expected


def test_live_from_marks_warm_records() -> None:
    plan = Rewind(warm_until={"a": 7})
    assert plan.live_from("a") == 7 and plan.live_from("peer") == -1


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Broker:
    """End offsets the broker lists, counting the listings."""

    def __init__(self, ends: dict[str, int]) -> None:
        self.ends = ends
        self.calls = 0
        self.failing = False

    def __call__(self, tps: list[str]) -> dict[str, int] | None:
        self.calls += 1
        return None if self.failing else {tp: self.ends[tp] for tp in tps}


def views(*rows: tuple[str, int | None, int | None]) -> list[PartitionView]:
    return [PartitionView(*row) for row in rows]


# (partition, fetched high watermark, position); newest event time read per partition; seconds at end
@pytest.mark.parametrize(
    ("case", "rows", "newest", "listed", "quiet_for", "expected"),
    [
        (
            "records ahead everywhere: the least advanced partition",
            [("a", 10, 5), ("b", 10, 2)],
            {"a": 50.0, "b": 40.0},
            {},
            0.0,
            40.0,
        ),
        ("a partition not read yet holds everything", [("a", 10, 5), ("b", 10, 0)], {"a": 50.0}, {}, 0.0, -INF),
        ("read to its end just now: still holds", [("a", 10, 10), ("b", 10, 2)], {"a": 30.0, "b": 40.0}, {}, 1.0, 30.0),
        (
            "read to its end for 5 s: idle, left out",
            [("a", 10, 10), ("b", 10, 2)],
            {"a": 30.0, "b": 40.0},
            {},
            5.0,
            40.0,
        ),
        (
            "the broker lists more than the fetch saw: not at its end",
            [("a", 10, 10), ("b", 10, 2)],
            {"a": 30.0, "b": 40.0},
            {"a": 12},
            5.0,
            30.0,
        ),
        ("every partition idle: no watermark", [("a", 10, 10)], {"a": 30.0}, {}, 5.0, None),
        ("no fetch yet, the listing says empty and quiet", [("a", None, 0)], {}, {"a": 0}, 5.0, None),
        (
            "position unknown: holds at what it read",
            [("a", 10, None), ("b", 10, 2)],
            {"a": 30.0, "b": 40.0},
            {},
            5.0,
            30.0,
        ),
    ],
)
def test_low_watermark(
    case: str,
    rows: list[tuple[str, int | None, int | None]],
    newest: dict[str, float],
    listed: dict[str, int],
    quiet_for: float,
    expected: float | None,
) -> None:
    clock = Clock()
    broker = Broker({r[0]: listed.get(r[0], 0) for r in rows})
    mark = Watermark(clock=clock)
    mark.newest.update(newest)
    mark.low_watermark(lambda: views(*rows), broker)  # first sight: starts the idle clocks
    clock.now += quiet_for
    broker.ends.update(listed)
    mark.listed_at = clock.now  # a fresh listing already in hand
    mark.listed.update(listed)
    assert mark.low_watermark(lambda: views(*rows), broker) == expected, case


def two_partitions_read_to_their_end() -> tuple[Clock, Broker, Watermark, list[PartitionView]]:
    """ "a" (newest 30) and "b" (newest 90), both read to their end 6 s ago (listed then)."""
    clock = Clock()
    broker = Broker({"a": 10, "b": 10})
    mark = Watermark(clock=clock)
    mark.newest.update({"a": 30.0, "b": 90.0})
    parts = views(("a", 10, 10), ("b", 10, 10))
    mark.low_watermark(lambda: parts, broker)
    clock.now += 6.0
    return clock, broker, mark, parts


def test_a_partition_counts_as_idle_only_on_an_end_listed_after_the_newest_records() -> None:
    # A deploy flushed to partition "a" before later samples reached "b": the fetch of "a" saw no
    # new high watermark yet. Idle on the old listing would let a look pass the deploy's time.
    clock, broker, mark, parts = two_partitions_read_to_their_end()
    mark.low_watermark(lambda: parts, broker)  # both idle on a fresh listing: no watermark
    mark.read()  # records were read since that listing
    broker.ends["a"] = 11  # ... and the broker has one more record on "a"
    mark.listed_at = clock.now - 0.1  # listed 0.1 s ago: too soon to list again
    calls = broker.calls
    assert mark.low_watermark(lambda: parts, broker) == 30.0  # holds: not idle on a stale end
    assert broker.calls == calls
    clock.now += 0.2  # the listing interval has passed: list again, and "a" is not at its end
    assert mark.low_watermark(lambda: parts, broker) == 30.0
    assert broker.calls == calls + 1 and mark.listed["a"] == 11


def test_a_partition_read_as_rollups_is_idle_at_once_when_its_owner_said_so() -> None:
    """Its owner counted it idle (5 s at its end) before saying so; the reader does not wait again,
    but only while the broker still lists the owner's offset as the end."""
    clock = Clock()
    broker = Broker({"own": 10, "peer": 7})
    mark = Watermark(clock=clock)
    mark.newest.update({"own": 90.0, "peer": 30.0})
    said_idle = [PartitionView("own", 10, 4), PartitionView("peer", None, 7, 0.0)]
    assert mark.low_watermark(lambda: said_idle, broker) == 90.0  # "peer" left out at first sight
    broker.ends["peer"] = 9  # more came since the owner said so
    clock.now += 1.5
    assert mark.low_watermark(lambda: said_idle, broker) == 30.0
    not_said = [PartitionView("own", 10, 4), PartitionView("peer", None, None, 0.0)]
    broker.ends["peer"] = 7
    clock.now += 1.5
    assert mark.low_watermark(lambda: not_said, broker) == 30.0  # the owner did not say it is idle


def test_an_owner_says_quiet_after_idle_after_on_a_fresh_listing() -> None:
    clock = Clock()
    broker = Broker({"a": 10})
    mark = Watermark(clock=clock)
    mark.newest["a"] = 50.0
    parts = views(("a", 10, 10))
    mark.low_watermark(lambda: parts, broker)
    assert not mark.quiet("a")  # at its end just now
    clock.now += 5.0
    mark.low_watermark(lambda: parts, broker)
    assert mark.quiet("a")
    mark.read(["b"])  # records of another partition: "a"'s listing is not stale
    assert mark.quiet("a")
    clock.now += 0.1
    mark.read(["a"])  # records of "a" came in since that listing
    assert not mark.quiet("a")
    assert not mark.quiet("never seen")


def test_a_failed_listing_after_new_records_counts_nothing_idle() -> None:
    """Found by the broker-outage test on a broker slow to come back: records were read, the listing
    that should have shown the other partition's new end failed, and the stale end made that
    partition idle, so looks ran ahead of its samples."""
    clock, broker, mark, parts = two_partitions_read_to_their_end()
    assert mark.low_watermark(lambda: parts, broker) is None  # both idle on a fresh listing
    mark.read(["b"])  # records of "b" came; "a" may have more too, unlisted
    broker.failing = True
    clock.now += 0.5
    assert mark.low_watermark(lambda: parts, broker) == 30.0  # the listing failed: nothing idle
    clock.now += 2.0
    assert mark.low_watermark(lambda: parts, broker) == 30.0  # nor at the next call
    broker.failing = False
    clock.now += 0.5
    assert mark.low_watermark(lambda: parts, broker) is None  # listed again: idle again


def test_a_failed_listing_is_tried_again_at_the_next_call() -> None:
    clock = Clock()
    broker = Broker({"a": 10})
    broker.failing = True
    mark = Watermark(clock=clock)
    mark.low_watermark(lambda: views(("a", None, 0)), broker)
    mark.low_watermark(lambda: views(("a", None, 0)), broker)
    assert broker.calls == 2 and mark.listed == {}


def test_reset_forgets_progress() -> None:
    mark = Watermark()
    mark.newest["a"] = 5.0
    mark.listed["a"] = 3
    mark.reset()
    assert mark.newest == {} and mark.listed == {} and mark.listed_at == -INF


# (events as (time, "revoked" | "assigned"), when asked, stuck?) with a patience of 60 s.
REBALANCES = [
    ([], 1000.0, False),  # never in a rebalance
    ([(0.0, "revoked")], 60.0, False),  # a rebalance under way, within the patience
    ([(0.0, "revoked")], 61.0, True),  # begun 61 s ago and never finished
    ([(0.0, "revoked"), (2.0, "assigned")], 500.0, False),  # finished (an empty set counts too)
    ([(0.0, "revoked"), (30.0, "revoked")], 61.0, True),  # a second revoke does not restart the wait
    ([(0.0, "revoked"), (2.0, "assigned"), (50.0, "revoked")], 100.0, False),  # the next one began at 50
]


@pytest.mark.parametrize(("events", "asked_at", "stuck"), REBALANCES)
def test_a_rebalance_never_finished_counts_as_stuck(
    events: list[tuple[float, str]], asked_at: float, stuck: bool
) -> None:
    now = [0.0]
    watch = RebalanceWatch(patience=60.0, clock=lambda: now[0])
    for at, event in events:
        now[0] = at
        getattr(watch, event)()
    now[0] = asked_at
    assert watch.stuck() is stuck


class TP(NamedTuple):
    topic: str
    partition: int


def tps(text: str) -> list[TP]:
    """``"m0 d1 r2"`` -> metrics 0, deploys 1, rollups 2."""
    names = {"m": "metrics", "d": "deploys", "r": "rollups"}
    return [TP(names[word[0]], int(word[1:])) for word in text.split()]


@pytest.mark.parametrize(
    ("owned", "rollups", "assign", "as_rollups"),
    [
        ("m1 d1", False, "d0 d2 m0 m2", []),  # raw: every other partition of both topics
        ("m1 d1", True, "d0 d2 r0 r2", [0, 2]),  # rollups: the metrics partitions read as their rollups
        ("m0 m1 m2 d0 d1 d2", True, "", []),  # owns everything: reads nothing else
        ("", True, "d0 d1 d2 r0 r1 r2", [0, 1, 2]),  # owns nothing yet (assignment empty)
        ("m0 d0 m2 d2", False, "d1 m1", []),
    ],
)
def test_peer_reads(owned: str, rollups: bool, assign: str, as_rollups: list[int]) -> None:
    every = tps("m0 m1 m2 d0 d1 d2")
    reads = peer_reads(every, tps(owned), "metrics", rollups, lambda n: TP("rollups", n))
    assert reads.assign == tps(assign)
    assert reads.as_rollups == {n: TP("metrics", n) for n in as_rollups}

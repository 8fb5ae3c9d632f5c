"""The rollups transport (consumers/rollups.py) without a broker: what an owner publishes and when,
what a reader makes of it, and two owners exchanging rollups judging as one replay does."""

from __future__ import annotations

import math
from typing import Any

import pytest
from fleets import T0
from hypothesis import given
from hypothesis import strategies as st

from aiops.config import Settings
from aiops.consumers.rollups import (
    ONE_BATCH_BYTES,
    Outgoing,
    PeerRollups,
    Progress,
    RollupFormatError,
    RollupMessage,
    RollupPublisher,
    decode,
    encode,
)
from aiops.engine import KnownDeploy
from aiops.eval.simulate import FleetSpec, simulate_fleet
from aiops.history import FleetHistory
from aiops.model import DeployEvent, MetricSample
from aiops.parsing import parse_record
from aiops.pipeline import build_engine
from aiops.rollups import PeerMinutes

M0 = math.floor(T0 / 60.0) * 60.0  # a whole minute


def _samples(*times: float, service: str = "api", metric: str = "latency") -> list[MetricSample]:
    return [MetricSample(service, metric, M0 + t, 1.0 + t) for t in times]


def _history(samples: list[MetricSample]) -> FleetHistory:
    fleet = FleetHistory()
    for s in samples:
        fleet.add_sample(s.service, s.metric, s.ts, s.value)
    return fleet


def _minutes(out: list[Any]) -> list[float | None]:
    return [None if (m := decode(o.value).minute) is None else m - M0 for o in out]


@pytest.mark.parametrize(
    ("newest", "lateness", "at_end", "published"),
    [
        (150.0, 0.0, False, [0.0, 60.0]),  # minute 120 is still open
        (150.0, 60.0, False, [0.0]),  # 60-119 could still get a sample late by up to a minute
        (180.0, 0.0, False, [0.0, 60.0, 120.0]),  # newest at 180: minute 120 has all it will get
        (119.0, 0.0, False, [0.0]),
        (150.0, 60.0, True, [0.0, 60.0, 120.0]),  # read to the end: the part-minute goes too
    ],
)
def test_an_owner_publishes_the_closed_minutes_and_at_the_end_the_rest(
    newest: float, lateness: float, at_end: bool, published: list[float]
) -> None:
    samples = _samples(0.0, 30.0, 60.0, 90.0, 120.0, 150.0)
    pub = RollupPublisher(lateness)
    pub.note(0, samples)
    out = pub.due(_history(samples), {0: Progress(M0 + newest, 6, at_end)})
    assert _minutes(out) == published
    assert [decode(o.value).progress for o in out][-1] == Progress(M0 + newest, 6, at_end)
    assert all(decode(o.value).progress is None for o in out[:-1])  # progress rides on the last


def test_a_part_minute_published_at_the_end_is_sent_again_whole() -> None:
    first = _samples(0.0, 30.0, 60.0)
    pub = RollupPublisher(0.0)
    pub.note(0, first)
    history = _history(first)
    out = pub.due(history, {0: Progress(M0 + 60.0, 3, True)})
    assert _minutes(out) == [0.0, 60.0]
    assert decode(out[-1].value).series == (("api", "latency", M0 + 60.0, 61.0),)

    later = _samples(90.0, 120.0)
    pub.note(0, later)
    for s in later:
        history.add_sample(s.service, s.metric, s.ts, s.value)
    out = pub.due(history, {0: Progress(M0 + 120.0, 5, False)})
    assert _minutes(out) == [60.0]  # minute 0 is not sent again; 60 is, now with both samples
    assert decode(out[0].value).series == (("api", "latency", M0 + 75.0, 76.0),)
    assert [o.key for o in out] == [f"0:{M0 + 60.0:.0f}".encode()]  # the compacted topic keeps this copy


def test_progress_is_announced_when_it_moves_and_for_an_empty_partition() -> None:
    pub = RollupPublisher(60.0)
    empty = pub.due(FleetHistory(), {3: Progress(float("-inf"), 0, True)})
    assert [(o.partition, decode(o.value).progress) for o in empty] == [(3, Progress(float("-inf"), 0, True))]
    assert empty[0].timestamp_ms is None  # the producer's clock: found by a reader's seek to any event time
    _acknowledge(pub, empty)
    assert pub.due(FleetHistory(), {3: Progress(float("-inf"), 0, True)}) == []  # nothing moved
    assert len(pub.due(FleetHistory(), {3: Progress(float("-inf"), 4, False)})) == 1


def _acknowledge(pub: RollupPublisher, out: list[Outgoing]) -> None:
    for message in out:
        pub.settled(message, None)


def test_no_progress_goes_out_while_earlier_messages_are_unacknowledged() -> None:
    samples = _samples(30.0, 90.0, 150.0)
    pub = RollupPublisher(0.0)
    pub.note(0, samples[:2])
    first = pub.due(_history(samples[:2]), {0: Progress(M0 + 90.0, 2, False)})
    assert _minutes(first) == [0.0] and decode(first[-1].value).progress == Progress(M0 + 90.0, 2, False)
    pub.note(0, samples[2:])
    second = pub.due(_history(samples), {0: Progress(M0 + 150.0, 3, False)})
    assert _minutes(second) == [60.0] and decode(second[-1].value).progress is None  # the first is in flight
    _acknowledge(pub, first + second)
    third = pub.due(_history(samples), {0: Progress(M0 + 150.0, 3, False)})
    assert [decode(o.value) for o in third] == [RollupMessage(0, None, (), Progress(M0 + 150.0, 3, False))]


def test_an_undelivered_minute_is_sent_again_whole_before_any_progress() -> None:
    """The producer gave up on a minute (broker away past its retries): a reader that heard of the
    owner's later progress would judge without it. It goes again, every series of the partition in
    it, and the progress only with it or after it."""
    history = _history(_samples(30.0, 90.0, 150.0) + _samples(40.0, 100.0, 160.0, service="db"))
    pub = RollupPublisher(0.0)
    pub.note(0, _samples(30.0, 90.0, 150.0))
    pub.note(0, _samples(40.0, 100.0, 160.0, service="db"))
    first = pub.due(history, {0: Progress(M0 + 160.0, 6, False)})
    assert _minutes(first) == [0.0, 60.0]
    lost, delivered = first
    pub.settled(delivered, None)
    assert pub.due(history, {0: Progress(M0 + 160.0, 6, False)}) == []  # the lost one not settled yet
    pub.settled(lost, TimeoutError("broker away"))
    again = pub.due(history, {0: Progress(M0 + 160.0, 6, False)})
    assert _minutes(again) == [0.0, 60.0]  # from the lost minute on, every closed minute
    assert decode(again[0].value).series == decode(lost.value).series
    assert {s for s, *_ in decode(again[0].value).series} == {"api", "db"}
    assert decode(again[-1].value).progress == Progress(M0 + 160.0, 6, False)


def test_a_delivery_reported_after_a_rewind_is_stale() -> None:
    pub = RollupPublisher(0.0)
    out = pub.due(FleetHistory(), {0: Progress(float("-inf"), 0, True)})
    pub.reset(publish_from=float("-inf"))
    pub.settled(out[0], TimeoutError("broker away"))  # of the publication the rewind started over
    assert len(pub.due(FleetHistory(), {0: Progress(float("-inf"), 0, True)})) == 1


def test_a_publication_too_large_for_one_batch_announces_its_progress_after_it() -> None:
    # Split across producer batches, its minutes might not all arrive with the progress on the last.
    times = [float(t) for t in range(0, 6 * 3600, 30)]
    samples = [s for k in range(60) for s in _samples(*times, service=f"service-with-a-long-name-{k:03d}")]
    pub = RollupPublisher(0.0)
    pub.note(0, samples)
    out = pub.due(_history(samples), {0: Progress(M0 + times[-1], len(samples), True)})
    assert sum(len(o.value) for o in out) > ONE_BATCH_BYTES
    assert all(decode(o.value).progress is None for o in out)
    _acknowledge(pub, out)
    [progress] = pub.due(_history(samples), {0: Progress(M0 + times[-1], len(samples), True)})
    assert decode(progress.value).progress == Progress(M0 + times[-1], len(samples), True)


def test_no_minute_before_the_read_started_is_published() -> None:
    """After a rewind the owner reads from some event time on: the minute that time falls in would
    be a part of itself, and would replace the whole one a previous owner published."""
    samples = _samples(30.0, 60.0, 90.0, 120.0, 150.0, 180.0)
    pub = RollupPublisher(0.0)
    pub.reset(publish_from=M0 + 60.0)
    pub.note(0, samples)
    assert _minutes(pub.due(_history(samples), {0: Progress(M0 + 180.0, 6, False)})) == [60.0, 120.0]


@given(
    st.floats(min_value=0.0, max_value=4e9, allow_nan=False),
    st.floats(allow_nan=False, allow_infinity=False),
)
def test_a_minute_comes_back_with_every_bit(t: float, value: float) -> None:
    minute = math.floor(t / 60.0) * 60.0
    message = decode(encode(5, minute, [("svc", "m", t, value)], Progress(t, 9, False)))
    assert message.series == (("svc", "m", t, value),)
    assert message.progress == Progress(t, 9, False) and message.minute == minute and message.partition == 5


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (b"\xff", "not JSON"),
        (b"[1]", "not a JSON object"),
        (b'{"v": 1, "p": 0}', "malformed: KeyError"),
        (b'{"v": 1, "p": 0, "m": 60, "s": {"a": {"b": ["x", 1]}}}', "malformed: ValueError"),
    ],
)
def test_a_message_this_version_cannot_read_is_named(value: bytes, says: str) -> None:
    with pytest.raises(RollupFormatError, match=says):
        decode(value)


def test_a_readers_view_of_a_peer_partition_only_moves_forward() -> None:
    """A rebuilt owner reads its partition again from earlier, and says so; what was published
    before stays true, and the reader keeps the furthest progress."""
    peers = PeerRollups()
    peers.apply(decode(encode(1, None, (), Progress(M0 + 600.0, 40, True))))
    records = peers.apply(decode(encode(1, M0, [("db", "cpu", M0 + 15.0, 2.0)], Progress(M0 + 120.0, 8, False))))
    assert records == [PeerMinutes(M0, (("db", "cpu", M0, M0 + 15.0, 2.0),)), PeerMinutes(M0 + 120.0)]
    assert peers.progress[1] == Progress(M0 + 600.0, 40, True)


def test_two_owners_exchanging_rollups_judge_each_deploy_as_one_replay_does() -> None:
    """Two engines, each holding the raw samples of half the fleet and the other half as the minutes
    its owner publishes, read in chunks with their looks held at the other's progress (as the
    consumers' low watermark holds them): every verdict equals the replay's, body and all."""
    spec = FleetSpec(services=6, hours=6, deploys_per_service=2, fleet_incidents=1, warmup_hours=2)
    events = [e for e in simulate_fleet(spec, 5).events if "_raw" not in e]
    parsed = (parse_record(e) for e in events)
    records = sorted((r for r in parsed if isinstance(r, MetricSample | DeployEvent)), key=lambda r: r.ts)
    owner = {s: i % 2 for i, s in enumerate(sorted({r.service for r in records}))}  # 3 services each
    settings = Settings()
    replay = build_engine(settings)
    done = replay.process(records).verdicts
    expected = {v.deployment_id: v.to_dict() for v in done}
    assert {v["verdict"] for v in expected.values()} >= {"pass", "fail"}

    engines = [build_engine(settings), build_engine(settings)]
    publishers = [RollupPublisher(settings.engine.lateness), RollupPublisher(settings.engine.lateness)]
    readers = [PeerRollups(), PeerRollups()]
    inbox: list[list[PeerMinutes]] = [[], []]  # what each has not read yet of the other's rollups
    got: dict[str, dict[str, Any]] = {}
    newest = [float("-inf"), float("-inf")]
    chunk = 25 * 60.0
    start = records[0].ts
    while start <= records[-1].ts:
        batch = [r for r in records if start <= r.ts < start + chunk]
        for k in (0, 1):
            own: list[Any] = []
            for r in batch:
                if owner[r.service] != k:
                    if isinstance(r, DeployEvent):
                        own.append(KnownDeploy(r))  # a peer's deploy: only its time counts
                    continue
                own.append(r)
                newest[k] = max(newest[k], r.ts)
            peer_records, inbox[k] = inbox[k], []
            peer_progress = readers[k].progress.get(1 - k)
            engines[k].horizon_limit = min(newest[k], peer_progress.newest if peer_progress else float("-inf"))
            out = engines[k].process(sorted([*own, *peer_records], key=lambda r: r.ts))
            got.update({v.deployment_id: v.to_dict() for v in out.verdicts})
            publishers[k].note(k, own)
            for message in publishers[k].due(engines[k].history, {k: Progress(newest[k], 0, False)}):
                inbox[1 - k].extend(readers[1 - k].apply(decode(message.value)))
                publishers[k].settled(message, None)
        start += chunk
    assert got.keys() <= expected.keys()
    assert len(got) >= len(expected) - 2  # the last analyses wait for the other's last minutes
    for dep_id, verdict in got.items():
        assert verdict == expected[dep_id], dep_id

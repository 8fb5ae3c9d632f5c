"""The consumer's per-message path (consumers/decode.py): the same records as the full parser, warm
records noted, bad records named for the dead-letter topic, without a broker."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from aiops.consumers.decode import decode_messages
from aiops.engine import KnownDeploy
from aiops.model import DeployEvent, MetricSample
from aiops.parsing import parse_payload

MESSAGES = [
    b'{"service":"api","metric":"latency_ms","ts":1795000000,"value":12.5}',  # the common case
    b'{"service":"api","metric":"latency_ms","ts":1795000015.5,"value":3}',
    b'{"name":"http_errors","labels":{"job":"api"},"value":"2","timestamp":"2026-11-01T00:00:00Z"}',  # adapter
    b'{"type":"deploy","id":"d1","service":"api","version":"v2","ts":1795000020}',
    b'{"service":"api","metric":"m","ts":1795000030,"value":NaN}',  # orjson refuses; the parser names it
    b'[{"service":"api","metric":"m","ts":1795000040,"value":1},{"service":"","metric":"m","ts":1,"value":1}]',
    b'{"name":"x","labels":{"job":"api"},"value":"NaN","timestamp":1795000050}',  # a staleness marker
    b"not json",
]


def messages(start: int = 0) -> list[Any]:
    return [SimpleNamespace(offset=start + i, value=raw) for i, raw in enumerate(MESSAGES)]


def test_decoding_gives_the_full_parsers_records_in_order() -> None:
    records: list[Any] = []
    out = decode_messages(messages(), records)
    expected = [r for raw in MESSAGES for r in parse_payload(raw).records]
    assert records == expected and len(records) == 5
    assert out.live == 5 and out.skipped == 1
    assert out.newest == 1795000040.0
    assert [(m.offset, reason) for m, reason in out.bad] == [
        (4, "value: not a finite number (nan)"),
        (5, "[1] service: must be a non-empty string"),
        (7, "payload: invalid JSON: Expecting value at char 0"),
    ]


def test_warm_messages_are_read_for_state_only() -> None:
    # Offsets 0-4 were committed by the previous owner: its deploys are noted (analysed again only
    # from analyse_from on), nothing there is counted as new, and its bad records are not sent again.
    records: list[Any] = []
    out = decode_messages(messages(), records, live_from=5, analyse_from=1795000025.0, written_until=1795000000.0)
    deploy = next(r for r in records if not isinstance(r, MetricSample))
    assert isinstance(deploy, KnownDeploy) and isinstance(deploy.deploy, DeployEvent)
    assert deploy.analyse is False and deploy.written_until == 1795000000.0
    assert out.live == 1  # only offset 5's good sample is new
    assert [m.offset for m, _ in out.bad] == [5, 7]


def test_newest_event_time_carries_over_from_earlier_batches() -> None:
    out = decode_messages([], [], newest=42.0)
    assert out.newest == 42.0 and out.live == 0 and out.bad == []


def test_oversized_messages_are_rejected_not_decoded() -> None:
    out = decode_messages(
        [SimpleNamespace(offset=0, value=b'{"service":"a","metric":"m","ts":1,"value":1}')], [], max_bytes=10
    )
    assert out.bad[0][1].startswith("payload: 45 bytes is over the 10-byte limit")


def test_the_fast_sample_constructor_makes_the_dataclasss_own_object() -> None:
    from aiops.parsing import _new_sample

    fast, slow = _new_sample("api", "latency_ms", 1.0, 2.5), MetricSample("api", "latency_ms", 1.0, 2.5)
    assert type(fast) is MetricSample and fast == slow and hash(fast) == hash(slow) and fast.labels == ()

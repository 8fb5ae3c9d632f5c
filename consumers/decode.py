"""Kafka messages to records: the consumer's per-message path, kept apart so it can be timed and tested
without a broker.

Nearly every message is one clean native sample. Those are decoded by orjson straight from the
message bytes (no ``str`` copy) and checked in place (:func:`aiops.parsing.native_sample_of`), one
dict and one :class:`MetricSample` per message, nothing else. Anything else (other shapes, batches,
deploys, bad input, NaN that orjson refuses) takes the full parser, :func:`aiops.parsing.parse_payload`,
which gives the same sample for a clean one and a field-naming reason otherwise.

>>> from types import SimpleNamespace as Msg
>>> records = []
>>> out = decode_messages([Msg(offset=0, value=b'{"service":"a","metric":"m","ts":5,"value":1}'),
...                        Msg(offset=1, value=b'{"service":"a","metric":"m","ts":6}')], records)
>>> [r.ts for r in records], out.live, out.newest, out.bad[0][1]
([5.0], 1, 5.0, 'value: must be a number, got null')
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from aiops.engine import KnownDeploy
from aiops.model import ChangeEvent, MetricSample, Record
from aiops.parsing import DEFAULT_MAX_BYTES, DEFAULT_SERVICE_LABELS, native_sample_of, parse_payload
from aiops.rollups import PeerMinutes


@dataclass(slots=True)
class Decoded:
    """What one partition's messages gave besides the records themselves."""

    live: int = 0  # records new to this member (past the warm-up), counted as accepted
    skipped: int = 0  # valid, carrying no sample (staleness markers, non-success statuses)
    newest: float = float("-inf")  # the newest event time read in this partition so far
    bad: list[tuple[Any, str]] = field(default_factory=list)  # (message, reason): for the dead-letter topic
    changes: list[ChangeEvent] = field(default_factory=list)  # CDEvents change.merged, stored with the batch


def decode_messages(
    messages: Iterable[Any],
    records: list[Record | KnownDeploy | PeerMinutes],
    *,
    live_from: int = -1,
    analyse_from: float = float("-inf"),
    written_until: float = float("-inf"),
    newest: float = float("-inf"),
    max_bytes: int = DEFAULT_MAX_BYTES,
    service_labels: Sequence[str] = DEFAULT_SERVICE_LABELS,
) -> Decoded:
    """Append the records of one partition's ``messages`` (objects with ``offset`` and ``value``).

    Messages before ``live_from`` are read again after a handoff (or, for a peer partition,
    always): the previous owner stored what they did up to its last commit, so their deploys from
    before ``analyse_from`` are only noted, their looks up to ``written_until`` emit nothing, and
    their bad records are not dead-lettered again.
    """
    out = Decoded(newest=newest)
    live = 0
    append = records.append
    loads = orjson.loads
    decode_error = orjson.JSONDecodeError
    for msg in messages:
        raw = msg.value or b""
        if len(raw) <= max_bytes:
            try:
                obj = loads(raw)
            except decode_error:
                obj = None
            sample = native_sample_of(obj)
            if sample is not None:
                append(sample)
                if sample.ts > newest:
                    newest = sample.ts
                if msg.offset >= live_from:
                    live += 1
                continue
        parsed = parse_payload(raw, service_labels=service_labels, max_bytes=max_bytes)
        for record in parsed.records:
            if record.ts > newest:
                newest = record.ts
        if msg.offset < live_from:
            records.extend(
                r if type(r) is MetricSample else KnownDeploy(r, r.ts >= analyse_from, written_until)  # type: ignore[arg-type]
                for r in parsed.records
            )
            continue
        records.extend(parsed.records)
        live += len(parsed.records)
        out.changes.extend(parsed.changes)  # (a peer's, read for state above, are its owner's)
        live += len(parsed.changes)
        out.skipped += parsed.skipped
        for bad in parsed.rejections:
            whole = len(parsed.rejections) == 1 and bad.index == 0
            out.bad.append((msg, bad.reason if whole else f"[{bad.index}] {bad.reason}"))
    out.live = live
    out.newest = newest
    return out

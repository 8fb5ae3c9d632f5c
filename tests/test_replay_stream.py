"""``replay_stream`` line by line: the fast path for clean native samples and the full parser agree."""

from __future__ import annotations

import io
import json

from aiops.config import Settings
from aiops.pipeline import build_pipeline
from aiops.replay import replay_stream

T0 = 1_700_000_000.0


def sample(ts: float, value: float, **extra: object) -> bytes:
    return json.dumps({"service": "api", "metric": "latency_ms", "ts": ts, "value": value, **extra}).encode()


def test_every_kind_of_line_is_counted_where_it_stands() -> None:
    lines = [
        sample(T0, 1.0),  # 1: clean: the fast path
        sample(T0 + 300, 2.0),  # 2
        b"",  # 3: blank
        b"[]",  # 4: an empty batch
        sample(T0 + 10, 3.0),  # 5: 290 s behind the watermark: late (lateness 60 s), still accepted
        b'{"service": "api", "metric": "latency_ms", "ts": 1700000400, "value": NaN}',  # 6: rejected
        sample(T0 + 400, 4.0, labels={"pod": "a"}),  # 7: labels: the full parser
        b"[" + sample(T0 + 500, 5.0) + b"," + sample(T0 + 510, 6.0) + b"]",  # 8: a batch of two
        b"not json",  # 9
    ]
    pipeline = build_pipeline(Settings(), None)
    report = replay_stream(io.BytesIO(b"\n".join(lines) + b"\n"), pipeline)
    assert report.lines == 9
    assert report.empty == 2
    assert report.late == 1 and report.first_late_line == 5
    # 1, 2, 5, 7 and the batch of two; 6 (NaN) and 9 (not JSON) rejected, each at its line
    assert report.accepted == 6
    assert [(n, r.reason.split(":")[0]) for n, r in report.rejections] == [(6, "value"), (9, "payload")]
    series = pipeline.engine.history.series[("api", "latency_ms")]
    # Fed in the order read (the late sample goes into its place by time): every accepted value is there.
    assert sorted(series.values) == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]


def test_a_clean_sample_longer_than_the_limit_is_rejected_not_taken() -> None:
    short, long = sample(T0, 1.0), sample(T0 + 60, 2.5, note="x" * 40)
    pipeline = build_pipeline(Settings(), None)
    # Lines are measured as read, newline included.
    report = replay_stream(io.BytesIO(short + b"\n" + long + b"\n"), pipeline, max_bytes=len(short) + 1)
    assert report.accepted == 1
    assert [(n, "over the" in r.reason) for n, r in report.rejections] == [(2, True)]

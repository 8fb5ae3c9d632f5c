"""Every input shape of docs/contracts.md 1-2, every rejection rule of section 3, and no crash on anything."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiops.model import DeployEvent, DeployKind, MetricSample
from aiops.parsing import clean_native_sample, parse_ndjson, parse_payload, parse_value


def one(payload: object) -> MetricSample | DeployEvent:
    result = parse_payload(json.dumps(payload).encode())
    assert result.rejections == [], result.rejections
    assert len(result.records) == 1
    return result.records[0]


def reason(payload: object | bytes) -> str:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    result = parse_payload(raw)
    assert result.records == [] and len(result.rejections) == 1, result
    return result.rejections[0].reason


def test_native_metric_with_labels_and_rfc3339_time() -> None:
    s = one(
        {
            "service": "checkout",
            "metric": "p99",
            "ts": "2026-11-28T07:00:00Z",
            "value": 0.2,
            "labels": {"region": "eu-1"},
        }
    )
    assert isinstance(s, MetricSample)
    assert (s.service, s.metric, s.ts, s.value, s.labels) == (
        "checkout",
        "p99",
        1795849200.0,
        0.2,
        (("region", "eu-1"),),
    )


def test_prometheus_kafka_adapter_shape_takes_service_from_labels() -> None:
    s = one(
        {
            "timestamp": "2026-11-28T07:00:00Z",
            "value": "0.231",
            "name": "http_p99",
            "labels": {"__name__": "http_p99", "job": "checkout", "instance": "a:1"},
        }
    )
    assert isinstance(s, MetricSample)
    assert (s.service, s.metric, s.value) == ("checkout", "http_p99", 0.231)
    assert ("__name__", "http_p99") not in s.labels


def test_adapter_prefers_service_label_over_job() -> None:
    s = one(
        {
            "timestamp": "2026-11-28T07:00:00Z",
            "value": "1",
            "name": "m",
            "labels": {"job": "kubernetes-pods", "service": "payments"},
        }
    )
    assert s.service == "payments"


def test_old_flat_adapter_shape() -> None:
    s = one({"__name__": "cpu", "__value__": "0.5", "__timestamp__": "2026-11-28T07:00:00Z", "app": "search"})
    assert isinstance(s, MetricSample) and (s.service, s.metric, s.value) == ("search", "cpu", 0.5)


def test_staleness_marker_is_skipped_not_rejected() -> None:
    result = parse_payload(
        json.dumps(
            {"timestamp": "2026-11-28T07:00:00Z", "value": "NaN", "name": "m", "labels": {"service": "a"}}
        ).encode()
    )
    assert (result.records, result.rejections, result.skipped) == ([], [], 1)


def test_native_deploy_gets_a_stable_id_when_none_given() -> None:
    d = one({"type": "deploy", "service": "checkout", "version": "v2", "ts": 1795000000, "environment": "prod"})
    again = one({"type": "deploy", "service": "checkout", "version": "v2", "ts": 1795000000})
    assert isinstance(d, DeployEvent) and isinstance(again, DeployEvent)
    assert d.id == again.id and d.id.startswith("dep-") and d.environment == "prod"


def test_rollback_type() -> None:
    d = one({"type": "rollback", "id": "r1", "service": "a", "version": "v1", "ts": 1})
    assert isinstance(d, DeployEvent) and d.kind is DeployKind.ROLLBACK and d.id == "r1"


@pytest.mark.parametrize(
    ("event_type", "kind"),
    [
        ("dev.cdevents.service.deployed.0.2.0", DeployKind.DEPLOY),
        ("dev.cdevents.service.upgraded.0.2.0", DeployKind.DEPLOY),
        ("dev.cdevents.service.rolledback.0.2.0", DeployKind.ROLLBACK),
    ],
)
def test_cdevents_service_events(event_type: str, kind: DeployKind) -> None:
    d = one(
        {
            "context": {
                "version": "0.4.1",
                "id": "271069a8-fc18-44f1-b38f-9d70a1695819",
                "source": "/argo",
                "type": event_type,
                "timestamp": "2026-11-28T07:00:00Z",
            },
            "subject": {
                "id": "checkout",
                "source": "/argo",
                "type": "service",
                "content": {
                    "environment": {"id": "prod"},
                    "artifactId": "pkg:oci/checkout@sha256%3A0b31b1c02ff458ad9b7b?tag=v2.3.1",
                },
            },
        }
    )
    assert isinstance(d, DeployEvent)
    assert (d.id, d.service, d.version, d.environment, d.kind) == (
        "271069a8-fc18-44f1-b38f-9d70a1695819",
        "checkout",
        "v2.3.1",
        "prod",
        kind,
    )


def test_cdevents_version_from_plain_purl() -> None:
    d = one(
        {
            "context": {"id": "x", "type": "dev.cdevents.service.deployed.0.2.0", "timestamp": "2026-11-28T07:00:00Z"},
            "subject": {"id": "api", "content": {"artifactId": "pkg:golang/example.com/api@v1.2.3"}},
        }
    )
    assert d.version == "v1.2.3"  # type: ignore[union-attr]


def test_cdevents_other_event_types_are_rejected_with_the_field() -> None:
    r = reason(
        {
            "context": {
                "id": "x",
                "type": "dev.cdevents.pipelinerun.started.0.2.0",
                "timestamp": "2026-11-28T07:00:00Z",
            },
            "subject": {"id": "api", "content": {}},
        }
    )
    assert r.startswith("context.type:")


def github_status(state: str) -> dict[str, object]:
    return {
        "action": "created",
        "deployment_status": {"state": state, "created_at": "2026-11-28T07:00:00Z", "environment": "production"},
        "deployment": {"id": 42, "sha": "abc123", "ref": "main", "environment": "production"},
        "repository": {"name": "checkout", "full_name": "acme/checkout"},
    }


def test_github_deployment_status_success() -> None:
    d = one(github_status("success"))
    assert isinstance(d, DeployEvent) and (d.id, d.service, d.version, d.environment) == (
        "gh-42",
        "checkout",
        "abc123",
        "production",
    )


def test_github_non_success_status_is_skipped() -> None:
    result = parse_payload(json.dumps(github_status("in_progress")).encode())
    assert (result.records, result.rejections, result.skipped) == ([], [], 1)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"service": "", "metric": "m", "ts": 1, "value": 1}, "service:"),
        ({"service": "a", "metric": " ", "ts": 1, "value": 1}, "metric:"),
        ({"service": "a", "metric": "m", "ts": 1, "value": "1"}, "value:"),
        ({"service": "a", "metric": "m", "ts": 1, "value": True}, "value:"),
        ({"service": "a", "metric": "m", "ts": "yesterday", "value": 1}, "ts:"),
        ({"service": "a", "metric": "m", "ts": 1795000000000, "value": 1}, "ts:"),
        ({"service": "a", "metric": "m", "ts": 1, "value": 1, "labels": {"x": 1}}, "labels.x:"),
        ({"type": "deploy", "service": "a", "ts": 1}, "version:"),
        ({"type": "release", "service": "a", "version": "v", "ts": 1}, "type:"),
        ({"foo": 1}, "record:"),
        ([1], "record:"),
        ("text", "record:"),
        ({"timestamp": "2026-11-28T07:00:00Z", "value": "+Inf", "name": "m", "labels": {"service": "a"}}, "value:"),
        ({"timestamp": "2026-11-28T07:00:00Z", "value": "1", "name": "m", "labels": {"pod": "a"}}, "labels:"),
    ],
)
def test_bad_records_are_rejected_naming_the_field(payload: object, field: str) -> None:
    result = parse_payload(json.dumps(payload).encode())
    assert result.records == []
    assert result.rejections and result.rejections[0].reason.startswith(field), result.rejections


@pytest.mark.parametrize(
    "raw",
    [
        b'{"service": "a", "metric": "m", "ts": 1, "value": NaN}',
        b'{"service": "a", "metric": "m", "ts": 1, "value": Infinity}',
    ],
)
def test_non_finite_json_numbers_are_rejected(raw: bytes) -> None:
    assert reason(raw).startswith("value: not a finite number")


def test_truncated_json_and_binary_garbage() -> None:
    assert reason(b'{"service": "a", "metr').startswith("payload: invalid JSON")
    assert reason(b"\xff\xfe\x00").startswith("payload:")


def test_oversized_payload_is_rejected_with_its_size() -> None:
    result = parse_payload(b" " * 100, max_bytes=10)
    assert result.rejections[0].reason == "payload: 100 bytes is over the 10-byte limit"


def test_batch_keeps_good_records_and_indexes_bad_ones() -> None:
    batch = [
        {"service": "a", "metric": "m", "ts": 1, "value": 1},
        {"service": "a"},
        {"type": "deploy", "service": "a", "version": "v", "ts": 2},
    ]
    result = parse_payload(json.dumps(batch).encode())
    assert len(result.records) == 2
    assert [(r.index, r.reason.split(":")[0]) for r in result.rejections] == [(1, "record")]
    assert json.loads(result.rejections[0].raw) == {"service": "a"}


def test_ndjson_indexes_are_line_numbers() -> None:
    text = b'{"service":"a","metric":"m","ts":1,"value":1}\n\nnot json\n{"service":"a","metric":"m","ts":2,"value":2}\n'
    result = parse_ndjson(text)
    assert len(result.records) == 2
    assert [r.index for r in result.rejections] == [2]
    assert result.rejections[0].raw == b"not json"


# "field.path: what is wrong": a field (or payload/record) first, then a non-empty explanation.
FIELD_REASON = re.compile(r"^[A-Za-z_][\w.]*: \S")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=6),
    max_leaves=20,
)
field_names = st.sampled_from(
    [
        "service",
        "metric",
        "ts",
        "value",
        "labels",
        "type",
        "version",
        "id",
        "name",
        "timestamp",
        "__name__",
        "__value__",
        "__timestamp__",
        "context",
        "subject",
        "deployment_status",
        "deployment",
        "repository",
        "environment",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(field_names, json_values, max_size=8))
def test_no_object_makes_the_parser_raise(obj: dict[str, object]) -> None:
    result = parse_value(obj)
    assert len(result.records) + len(result.rejections) + result.skipped == 1
    for r in result.rejections:
        assert FIELD_REASON.match(r.reason), r.reason


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_no_bytes_make_the_parser_raise(raw: bytes) -> None:
    result = parse_payload(raw)
    for r in result.rejections:
        assert FIELD_REASON.match(r.reason), r.reason


@settings(max_examples=200, deadline=None)
@given(
    st.text(min_size=1, max_size=30).filter(lambda s: s.strip() and all(ord(c) >= 32 for c in s)),
    st.floats(min_value=0, max_value=4e9),
    st.floats(allow_infinity=False, allow_nan=False),
)
def test_valid_native_metrics_round_trip(service: str, ts: float, value: float) -> None:
    s = one({"service": service, "metric": "m", "ts": ts, "value": value})
    assert (s.service, s.ts, s.value) == (service.strip(), ts, value)  # type: ignore[union-attr]


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.dictionaries(field_names, json_values, max_size=8).map(lambda o: json.dumps(o).encode()),
        st.fixed_dictionaries(
            {"service": st.text(max_size=12), "metric": st.text(max_size=12), "ts": json_values, "value": json_values}
        ).map(lambda o: json.dumps(o).encode()),
        st.binary(max_size=120),
    )
)
def test_the_consumers_fast_path_agrees_with_the_full_parser(raw: bytes) -> None:
    # The fast path may decline anything, but what it accepts the full parser accepts identically.
    fast = clean_native_sample(raw)
    if fast is not None:
        full = parse_payload(raw)
        assert full.records == [fast] and not full.rejections and not full.skipped

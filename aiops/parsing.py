"""Bytes in, records or reasons out: the one entry point for every input shape (docs/contracts.md 1-3).

Kafka messages, HTTP bodies and replay lines all go through :func:`parse_payload` (one JSON value:
an object or an array of objects) or :func:`parse_ndjson` (one JSON value per line). A record that
cannot be used becomes a :class:`Rejection` whose reason names the field and the problem; nothing
here raises on bad input.

>>> r = parse_payload(b'{"service": "api", "metric": "latency_p99", "ts": 1795000000, "value": 0.2}')
>>> r.records[0].value, r.rejections
(0.2, [])
>>> parse_payload(b'{"service": "", "metric": "x", "ts": 1, "value": 1}').rejections[0].reason
'service: must be a non-empty string'
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import orjson

from aiops.model import ChangeEvent, DeployEvent, DeployKind, MetricSample, Record

DEFAULT_SERVICE_LABELS: tuple[str, ...] = ("service", "job", "app")
DEFAULT_MAX_BYTES = 1 << 20  # one Kafka message / one HTTP body
MAX_NAME_LENGTH = 256
_CONTROL = re.compile(r"[\x00-\x1f]")
# Epoch seconds past this are almost surely milliseconds: year 5138. Reject, never guess.
_MAX_EPOCH_SECONDS = 1e11

CDEVENT_KINDS = {
    "dev.cdevents.service.deployed.": DeployKind.DEPLOY,
    "dev.cdevents.service.upgraded.": DeployKind.DEPLOY,
    "dev.cdevents.service.rolledback.": DeployKind.ROLLBACK,
}
CDEVENT_CHANGE_MERGED = "dev.cdevents.change.merged."


@dataclass(frozen=True, slots=True)
class Rejection:
    """A record that was not used: where it was (``index`` in its payload), why, and its bytes."""

    index: int
    reason: str
    raw: bytes = b""


@dataclass(slots=True)
class ParseResult:
    records: list[Record] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    skipped: int = 0  # valid but carrying no sample: Prometheus staleness markers, non-success statuses
    # CDEvents change.merged: kept by the store for lead times, never seen by the engine
    changes: list[ChangeEvent] = field(default_factory=list)

    def extend(self, other: ParseResult) -> None:
        self.records.extend(other.records)
        self.rejections.extend(other.rejections)
        self.skipped += other.skipped
        self.changes.extend(other.changes)


class _Invalid(Exception):
    """Internal: carries a field-naming reason up to the record boundary."""


class _Skip(Exception):
    """Internal: a well-formed record that carries no data (e.g. a staleness marker)."""


def parse_payload(
    data: bytes | str,
    *,
    service_labels: Sequence[str] = DEFAULT_SERVICE_LABELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    index_base: int = 0,
) -> ParseResult:
    """Parse one JSON value: an object (one record) or an array of objects (a batch)."""
    raw = data.encode() if isinstance(data, str) else data
    result = ParseResult()
    if len(raw) > max_bytes:
        result.rejections.append(
            Rejection(index_base, f"payload: {len(raw)} bytes is over the {max_bytes}-byte limit", raw[:4096])
        )
        return result
    try:
        value = json.loads(raw)
    except UnicodeDecodeError as exc:
        result.rejections.append(Rejection(index_base, f"payload: not UTF-8 ({exc.reason})", raw))
        return result
    except json.JSONDecodeError as exc:
        result.rejections.append(Rejection(index_base, f"payload: invalid JSON: {exc.msg} at char {exc.pos}", raw))
        return result
    except RecursionError:
        result.rejections.append(Rejection(index_base, "payload: JSON nested too deeply", raw[:4096]))
        return result
    if isinstance(value, list):
        for i, item in enumerate(value):
            _parse_into(result, item, index_base + i, service_labels, None)
    else:
        _parse_into(result, value, index_base, service_labels, raw)
    return result


def parse_ndjson(
    data: bytes | str | Iterable[bytes],
    *,
    service_labels: Sequence[str] = DEFAULT_SERVICE_LABELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> ParseResult:
    """Parse newline-delimited JSON; each line is a payload, ``index`` is the 0-based line number."""
    if isinstance(data, str):
        data = data.encode()
    lines = data.split(b"\n") if isinstance(data, bytes) else data
    result = ParseResult()
    for lineno, line in enumerate(lines):
        if not line.strip():
            continue
        result.extend(parse_payload(line, service_labels=service_labels, max_bytes=max_bytes, index_base=lineno))
    return result


def parse_value(value: Any, *, index: int = 0, service_labels: Sequence[str] = DEFAULT_SERVICE_LABELS) -> ParseResult:
    """Parse an already-decoded JSON value (for callers that decoded a whole body themselves)."""
    result = ParseResult()
    if isinstance(value, list):
        for i, item in enumerate(value):
            _parse_into(result, item, index + i, service_labels, None)
    else:
        _parse_into(result, value, index, service_labels, None)
    return result


def _parse_into(result: ParseResult, item: Any, index: int, service_labels: Sequence[str], raw: bytes | None) -> None:
    try:
        record = parse_record(item, service_labels)
        if type(record) is ChangeEvent:
            result.changes.append(record)
        else:
            result.records.append(record)  # type: ignore[arg-type]
    except _Skip:
        result.skipped += 1
    except _Invalid as exc:
        original = raw if raw is not None else _dump(item)
        result.rejections.append(Rejection(index, str(exc), original))


def _dump(item: Any) -> bytes:
    try:
        return json.dumps(item, allow_nan=True).encode()
    except (TypeError, ValueError):
        return repr(item).encode()


def parse_record(obj: Any, service_labels: Sequence[str] = DEFAULT_SERVICE_LABELS) -> Record | ChangeEvent:
    """One decoded JSON object to a record; raises the internal _Invalid/_Skip for the caller above."""
    if not isinstance(obj, dict):
        raise _Invalid(f"record: expected a JSON object, got {_json_type(obj)}")
    if "context" in obj and "subject" in obj:
        return _cdevent(obj)
    if "deployment_status" in obj:
        return _github_deployment_status(obj)
    if "type" in obj:
        return _native_deploy(obj)
    if "metric" in obj:
        return _native_metric(obj)
    if "name" in obj and "labels" in obj:
        return _adapter_metric(obj, service_labels)
    if "__name__" in obj:
        return _adapter_flat_metric(obj, service_labels)
    keys = ", ".join(sorted(str(k) for k in obj)[:8]) or "none"
    raise _Invalid(f"record: unknown shape (keys: {keys}); see docs/contracts.md sections 1-2")


# --- metric shapes -------------------------------------------------------------------------------


def _native_metric(obj: dict[str, Any]) -> MetricSample:
    return _clean_native_metric(obj) or _native_metric_checked(obj)


def _clean_native_metric(obj: dict[str, Any]) -> MetricSample | None:
    # Fast path for the common, clean sample (most of the traffic): the same checks as the
    # field-by-field validation, inlined; None for anything unusual, which then gets its reasons.
    service: Any = obj.get("service")
    metric: Any = obj.get("metric")
    ts: Any = obj.get("ts")
    value: Any = obj.get("value")
    if (
        type(service) is str
        and type(metric) is str
        and type(ts) in _NUMBER_TYPES
        and type(value) in _NUMBER_TYPES
        and "labels" not in obj
        and 0.0 <= ts <= _MAX_EPOCH_SECONDS
        and -math.inf < value < math.inf
        and (service in _clean_names or _clean_name(service))
        and (metric in _clean_names or _clean_name(metric))
    ):
        return _new_sample(service, metric, float(ts), float(value))
    return None


# Names already found clean: a fleet has a few hundred, seen millions of times.
_clean_names: set[str] = set()


def _clean_name(name: str) -> bool:
    if 0 < len(name) <= MAX_NAME_LENGTH and name.isprintable() and not name[0].isspace() and not name[-1].isspace():
        if len(_clean_names) > 100_000:  # bounded: a stream of unique names only costs the checks
            _clean_names.clear()
        _clean_names.add(name)
        return True
    return False


def clean_native_sample(raw: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> MetricSample | None:
    """The sample in ``raw`` when it is one clean native metric sample, else None.

    For a consumer's hot loop: one call per message, decoded by orjson from the bytes themselves.
    None means "not the common case", never "invalid": the caller then runs :func:`parse_payload`
    for the full treatment (other shapes, batches, field-naming rejections, NaN, which orjson
    refuses), which gives the same sample here.

    >>> clean_native_sample(b'{"service": "api", "metric": "latency_ms", "ts": 1700000000, "value": 12.5}')
    MetricSample(service='api', metric='latency_ms', ts=1700000000.0, value=12.5, labels=())
    >>> clean_native_sample(b'{"service": "api", "metric": "latency_ms", "ts": 1700000000, "value": NaN}') is None
    True
    """
    if len(raw) > max_bytes:
        return None
    try:
        obj = _orjson_loads(raw)
    except _OrjsonError:  # not UTF-8, not JSON, or NaN/Infinity
        return None
    return native_sample_of(obj)


def native_sample_of(obj: Any) -> MetricSample | None:
    """The sample when ``obj``, a decoded JSON value, is one clean native metric sample, else None.

    The checks of :func:`_native_metric_checked` inlined, for the shape nearly all traffic has;
    any key of another shape (or labels) sends the object to the full parser instead.

    >>> native_sample_of({"service": "api", "metric": "m", "ts": 5, "value": 1}).ts
    5.0
    >>> native_sample_of({"service": "api", "metric": "m", "ts": 5, "value": True}) is None
    True
    """
    if type(obj) is not dict or "labels" in obj or "type" in obj or "context" in obj or "deployment_status" in obj:
        return None
    service: Any = obj.get("service")
    metric: Any = obj.get("metric")
    ts: Any = obj.get("ts")
    value: Any = obj.get("value")
    if (
        type(service) is str
        and type(metric) is str
        and type(ts) in _NUMBER_TYPES
        and type(value) in _NUMBER_TYPES
        and 0.0 <= ts <= _MAX_EPOCH_SECONDS
        and -math.inf < value < math.inf
        and (service in _clean_names or _clean_name(service))
        and (metric in _clean_names or _clean_name(metric))
    ):
        return _new_sample(service, metric, float(ts), float(value))
    return None


def _sample_maker() -> Callable[[str, str, float, float], MetricSample]:
    """A constructor of MetricSample for the hot path: the same object, in half the time.

    A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``, which is
    most of what a clean sample costs after orjson has decoded it; this sets the slots through
    their descriptors instead. Should MetricSample change shape (other fields, no slots), the
    probe below no longer matches and its own constructor is used.
    """
    names = ("service", "metric", "ts", "value", "labels")
    if tuple(f.name for f in dataclasses.fields(MetricSample)) != names:
        return MetricSample
    try:
        setters = [MetricSample.__dict__[name].__set__ for name in names]
    except (KeyError, AttributeError):
        return MetricSample
    set_service, set_metric, set_ts, set_value, set_labels = setters
    new = MetricSample.__new__

    def make(service: str, metric: str, ts: float, value: float) -> MetricSample:
        sample = new(MetricSample)
        set_service(sample, service)
        set_metric(sample, metric)
        set_ts(sample, ts)
        set_value(sample, value)
        set_labels(sample, ())
        return sample

    probe = ("svc", "m", 1.0, 2.0)
    return make if make(*probe) == MetricSample(*probe) else MetricSample


_new_sample = _sample_maker()
_NUMBER_TYPES = (int, float)
_orjson_loads = orjson.loads
_OrjsonError = orjson.JSONDecodeError


def _native_metric_checked(obj: dict[str, Any]) -> MetricSample:
    service = _name(obj.get("service"), "service")
    metric = _name(obj.get("metric"), "metric")
    ts = _time(obj.get("ts"), "ts")
    value = _number(obj.get("value"), "value")
    labels = _labels(obj.get("labels"), "labels") if obj.get("labels") is not None else ()
    return MetricSample(service, metric, ts, value, labels)


def _adapter_metric(obj: dict[str, Any], service_labels: Sequence[str]) -> MetricSample:
    labels = obj.get("labels")
    if not isinstance(labels, dict):
        raise _Invalid(f"labels: expected an object, got {_json_type(labels)}")
    metric = _name(obj.get("name"), "name")
    value = _adapter_value(obj.get("value"), "value")
    ts = _time(obj.get("timestamp"), "timestamp")
    return _adapter_sample(metric, ts, value, labels, service_labels)


def _adapter_flat_metric(obj: dict[str, Any], service_labels: Sequence[str]) -> MetricSample:
    metric = _name(obj.get("__name__"), "__name__")
    value = _adapter_value(obj.get("__value__"), "__value__")
    ts = _time(obj.get("__timestamp__"), "__timestamp__")
    labels = {k: v for k, v in obj.items() if k not in ("__value__", "__timestamp__")}
    return _adapter_sample(metric, ts, value, labels, service_labels)


def _adapter_sample(
    metric: str, ts: float, value: float, labels: dict[str, Any], service_labels: Sequence[str]
) -> MetricSample:
    service = next((labels[k] for k in service_labels if isinstance(labels.get(k), str) and labels[k]), None)
    if service is None:
        raise _Invalid(f"labels: no service label (looked for {', '.join(service_labels)})")
    service = _name(service, "labels.service")
    kept = {k: v for k, v in labels.items() if k != "__name__"}
    return MetricSample(service, metric, ts, value, _labels(kept, "labels"))


def _adapter_value(value: Any, field_name: str) -> float:
    # prometheus-kafka-adapter writes values as strings; "NaN" is Prometheus' staleness marker.
    if isinstance(value, str):
        text = value.strip()
        if text.lower() == "nan":
            raise _Skip
        try:
            number = float(text)
        except ValueError:
            raise _Invalid(f"{field_name}: {value[:40]!r} is not a number") from None
        if not math.isfinite(number):
            raise _Invalid(f"{field_name}: not a finite number ({text})")
        return number
    return _number(value, field_name)


# --- deploy shapes -------------------------------------------------------------------------------


def _native_deploy(obj: dict[str, Any]) -> DeployEvent:
    kind_text = obj.get("type")
    try:
        kind = DeployKind(str(kind_text)) if isinstance(kind_text, str) else DeployKind("")
    except ValueError:
        raise _Invalid(f"type: must be 'deploy' or 'rollback', got {str(kind_text)[:40]!r}") from None
    service = _name(obj.get("service"), "service")
    version = _name(obj.get("version"), "version")
    ts = _time(obj.get("ts"), "ts")
    environment = _optional_str(obj.get("environment"), "environment")
    dep_id = obj.get("id")
    if dep_id is not None:
        dep_id = _name(dep_id if not isinstance(dep_id, int) or isinstance(dep_id, bool) else str(dep_id), "id")
    team = _optional_name(obj.get("team"), "team")
    commit_ts = _commit_time(obj.get("commit_ts"), "commit_ts", ts)
    return DeployEvent.create(service, version, ts, kind, environment, dep_id, team=team, commit_ts=commit_ts)


def _cdevent(obj: dict[str, Any]) -> DeployEvent | ChangeEvent:
    context, subject = obj.get("context"), obj.get("subject")
    if not isinstance(context, dict):
        raise _Invalid(f"context: expected an object, got {_json_type(context)}")
    if not isinstance(subject, dict):
        raise _Invalid(f"subject: expected an object, got {_json_type(subject)}")
    event_type = context.get("type")
    if not isinstance(event_type, str):
        raise _Invalid("context.type: must be a string")
    if event_type.startswith(CDEVENT_CHANGE_MERGED):
        return _cdevent_change_merged(obj, context, subject)
    kind = next((k for prefix, k in CDEVENT_KINDS.items() if event_type.startswith(prefix)), None)
    if kind is None:
        raise _Invalid(
            f"context.type: {event_type[:80]!r} is not a service deployed/upgraded/rolledback or change merged event"
        )
    dep_id = _name(context.get("id"), "context.id")
    ts = _time(context.get("timestamp"), "context.timestamp")
    service = _name(subject.get("id"), "subject.id")
    content = subject.get("content")
    if not isinstance(content, dict):
        raise _Invalid(f"subject.content: expected an object, got {_json_type(content)}")
    environment = ""
    env = content.get("environment")
    if isinstance(env, dict):
        environment = _optional_str(env.get("id"), "subject.content.environment.id")
    elif env is not None:
        raise _Invalid("subject.content.environment: expected an object with an id")
    artifact = content.get("artifactId")
    version = _purl_version(artifact)
    custom = _custom_data(obj.get("customData"))
    team = _optional_name(custom.get("team"), "customData.team")
    commit_ts = _commit_time(custom.get("commit_ts"), "customData.commit_ts", ts)
    return DeployEvent(dep_id, service, version, ts, kind, environment, team, commit_ts, str(artifact).strip())


def _custom_data(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Invalid(f"customData: expected an object, got {_json_type(value)}")
    return value


def _cdevent_change_merged(obj: dict[str, Any], context: dict[str, Any], subject: dict[str, Any]) -> ChangeEvent:
    """A merged change, tied to a build by its artifactId (``customData.artifactId``, or the
    subject's ``content.artifactId`` where a producer puts it there). Without one it cannot be tied
    to any deploy: skipped, like a non-success GitHub status."""
    change_id = _name(context.get("id"), "context.id")
    ts = _time(context.get("timestamp"), "context.timestamp")
    custom = _custom_data(obj.get("customData"))
    content = subject.get("content") if isinstance(subject.get("content"), dict) else {}
    field_name, artifact = "customData.artifactId", custom.get("artifactId")
    if artifact is None:
        field_name, artifact = "subject.content.artifactId", content.get("artifactId")  # type: ignore[union-attr]
    if artifact is None:
        raise _Skip
    if not isinstance(artifact, str) or not artifact.strip().startswith("pkg:"):
        raise _Invalid(f"{field_name}: must be a package URL (pkg:...)")
    repo = content.get("repository")  # type: ignore[union-attr]
    service = _optional_str(repo.get("id"), "subject.content.repository.id") if isinstance(repo, dict) else ""
    return ChangeEvent(change_id, _name(artifact, field_name), ts, service)


def _purl_version(purl: Any) -> str:
    """The version of a package URL (``pkg:type/ns/name@version?qualifiers#subpath``)."""
    if not isinstance(purl, str) or not purl.startswith("pkg:"):
        raise _Invalid("subject.content.artifactId: must be a package URL (pkg:...)")
    head = purl.split("#", 1)[0]
    head, _, qualifiers = head.partition("?")
    if "@" not in head:
        raise _Invalid("subject.content.artifactId: package URL has no @version")
    version = unquote(head.rsplit("@", 1)[1])
    # Container digests say little to a person; prefer the tag qualifier when the purl carries one.
    for pair in qualifiers.split("&"):
        key, _, val = pair.partition("=")
        if key == "tag" and val:
            version = unquote(val)
    return _name(version, "subject.content.artifactId")


def _github_deployment_status(obj: dict[str, Any]) -> DeployEvent:
    status, deployment = obj.get("deployment_status"), obj.get("deployment")
    if not isinstance(status, dict):
        raise _Invalid(f"deployment_status: expected an object, got {_json_type(status)}")
    if not isinstance(deployment, dict):
        raise _Invalid(f"deployment: expected an object, got {_json_type(deployment)}")
    state = status.get("state")
    if not isinstance(state, str):
        raise _Invalid("deployment_status.state: must be a string")
    if state != "success":
        raise _Skip  # pending/in_progress/failure statuses are not a running release
    raw_id = deployment.get("id")
    if isinstance(raw_id, bool) or not isinstance(raw_id, int | str) or raw_id == "":
        raise _Invalid("deployment.id: must be a number or a non-empty string")
    payload = deployment.get("payload") if isinstance(deployment.get("payload"), dict) else {}
    repo = obj.get("repository") if isinstance(obj.get("repository"), dict) else {}
    service_value = payload.get("service") or repo.get("name")  # type: ignore[union-attr]
    service = _name(service_value, "repository.name")
    version = _name(deployment.get("sha") or deployment.get("ref"), "deployment.sha")
    ts = _time(status.get("created_at") or deployment.get("created_at"), "deployment_status.created_at")
    environment = _optional_str(status.get("environment") or deployment.get("environment"), "deployment.environment")
    team = _optional_name(payload.get("team"), "deployment.payload.team")  # type: ignore[union-attr]
    # The deployment was created when the change was ready to ship: the start of its lead time.
    created = deployment.get("created_at")
    commit_ts = _time(created, "deployment.created_at") if created is not None else None
    if commit_ts is not None and commit_ts > ts:
        commit_ts = None  # a status stamped before its deployment: clocks apart, no lead time to tell
    return DeployEvent(f"gh-{raw_id}", service, version, ts, DeployKind.DEPLOY, environment, team, commit_ts)


# --- field validators ----------------------------------------------------------------------------


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _name(value: Any, field_name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Invalid(f"{field_name}: must be a non-empty string")
    text = value.strip()
    if len(text) > MAX_NAME_LENGTH:
        raise _Invalid(f"{field_name}: longer than {MAX_NAME_LENGTH} characters")
    if _CONTROL.search(text):
        raise _Invalid(f"{field_name}: contains control characters")
    return text


def _optional_str(value: Any, field_name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _Invalid(f"{field_name}: must be a string, got {_json_type(value)}")
    return value.strip()[:MAX_NAME_LENGTH]


def _optional_name(value: Any, field_name: str) -> str:
    """An optional name (``team``): absent or null is "", anything else must be a clean name."""
    return "" if value is None else _name(value, field_name)


def _commit_time(value: Any, field_name: str, deploy_ts: float) -> float | None:
    """When the deployed change was committed or merged: not after the deploy itself."""
    if value is None:
        return None
    commit_ts = _time(value, field_name)
    if commit_ts > deploy_ts:
        raise _Invalid(f"{field_name}: {commit_ts:.0f} is after the deploy's own time ({deploy_ts:.0f})")
    return commit_ts


def _number(value: Any, field_name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Invalid(f"{field_name}: must be a number, got {_json_type(value)}")
    number = float(value)
    if not math.isfinite(number):
        raise _Invalid(f"{field_name}: not a finite number ({value})")
    return number


def _time(value: Any, field_name: str) -> float:
    """Epoch seconds (int/float) or an RFC 3339 string; a string without offset is taken as UTC."""
    if isinstance(value, str):
        text = value.strip()
        try:
            parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
        except ValueError:
            try:
                return _time(float(text), field_name)
            except (ValueError, _Invalid):
                raise _Invalid(f"{field_name}: {text[:40]!r} is not epoch seconds or an RFC 3339 time") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    seconds = _number(value, field_name)
    if seconds < 0 or seconds > _MAX_EPOCH_SECONDS:
        raise _Invalid(f"{field_name}: {seconds:g} is outside epoch seconds (milliseconds?)")
    return seconds


def _labels(value: Any, field_name: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, Mapping):
        raise _Invalid(f"{field_name}: expected an object, got {_json_type(value)}")
    pairs = []
    for key, val in value.items():
        if not isinstance(val, str):
            raise _Invalid(f"{field_name}.{key}: must be a string, got {_json_type(val)}")
        pairs.append((str(key), val))
    return tuple(sorted(pairs))


def parse_time(value: Any, field_name: str) -> float:
    """Epoch seconds or an RFC 3339 time (a query parameter, a CLI flag) as epoch seconds;
    ValueError naming ``field_name`` when it is neither.

    >>> parse_time("2026-11-02T00:00:00Z", "from")
    1793577600.0
    >>> parse_time("soon", "from")
    Traceback (most recent call last):
    ...
    ValueError: from: 'soon' is not epoch seconds or an RFC 3339 time
    """
    try:
        return _time(value, field_name)
    except _Invalid as exc:
        raise ValueError(str(exc)) from None

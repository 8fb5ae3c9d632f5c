"""Settings, read once at start from the environment (docs/contracts.md section 10).

An optional file named by ``AIOPS_CONFIG`` (``KEY=value`` lines, ``#`` comments) adds to the
environment; a variable set in the environment wins over the file.

>>> s = Settings.from_env({"AIOPS_DB": "sqlite:///x.db", "AIOPS_KAFKA_BOOTSTRAP": "127.0.0.1:9092"})
>>> s.db, s.kafka_bootstrap, s.topic_metrics
('sqlite:///x.db', '127.0.0.1:9092', 'aiops.metrics')
>>> Settings.from_env({"AIOPS_MAX_BODY_BYTES": "lots"})
Traceback (most recent call last):
...
aiops.config.ConfigError: AIOPS_MAX_BODY_BYTES: 'lots' is not an integer
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from aiops.detectors.registry import DEFAULT_JUDGE, JUDGES, MULTIVARIATE_JUDGE, SERVICE_JUDGES
from aiops.direction import parse_overrides
from aiops.engine_config import EngineConfig

# One place for each default: the engine's own, and the store in the working folder.
ENGINE_DEFAULTS = EngineConfig()
DEFAULT_DB = "sqlite:///aiops.db"


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True, slots=True)
class ApiToken:
    name: str
    scope: str  # "read" | "write"
    secret: str


@dataclass(frozen=True, slots=True)
class Settings:
    db: str = DEFAULT_DB
    kafka_bootstrap: str | None = None
    topic_metrics: str = "aiops.metrics"
    topic_deploys: str = "aiops.deploys"
    topic_dlq: str = "aiops.dlq"
    # Each owner's per-minute rollups of its metrics partitions, read by the others (docs/kafka.md).
    topic_rollups: str = "aiops.rollups"
    consumer_group: str = "aiops"
    kafka_security: Mapping[str, str] = field(default_factory=dict)  # security_protocol, sasl_* ...
    service_labels: tuple[str, ...] = ("service", "job", "app")
    max_body_bytes: int = 8 << 20
    max_record_bytes: int = 1 << 20
    tokens: tuple[ApiToken, ...] = ()
    metrics_port: int = 0  # `aiops consume` serves /metrics on 127.0.0.1:PORT when set
    # Requests the API works on at once; more get 503 with Retry-After instead of queueing up.
    api_max_concurrency: int = 32
    # Each consumer process also reads, without committing, the partitions other members own, so its
    # fleet control group sees every service (docs/kafka.md). Only used when the fleet control is on.
    peer_view: bool = True
    # The peer view read as the owners' published rollups rather than the raw peer partitions.
    peer_rollups: bool = True
    engine: EngineConfig = field(default_factory=EngineConfig)
    # The judges the engine asks, by their names in aiops.detectors.registry: one per metric at every
    # look (AIOPS_JUDGE), and optionally one over a service's metrics together at the final look
    # (AIOPS_SERVICE_JUDGE, or AIOPS_MULTIVARIATE=on for the isolation forest; off by default).
    judge: str = DEFAULT_JUDGE
    service_judge: str | None = None
    # AIOPS_SERVICE_TEAMS / AIOPS_SERVICE_TEAMS_FILE: the team of services whose deploys name none
    service_teams: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        source = dict(os.environ if env is None else env)
        if source.get("AIOPS_CONFIG"):
            merged = _read_config_file(Path(source["AIOPS_CONFIG"]))
            merged.update(source)
            source = merged

        def get(name: str, default: str) -> str:
            return source.get(name, default).strip() or default

        tokens = _parse_tokens(source.get("AIOPS_API_TOKENS", ""), "AIOPS_API_TOKENS")
        if source.get("AIOPS_API_TOKENS_FILE"):
            path = Path(source["AIOPS_API_TOKENS_FILE"])
            try:
                text = path.read_text()
            except OSError as exc:
                raise ConfigError(f"AIOPS_API_TOKENS_FILE: cannot read {path}: {exc.strerror}") from None
            tokens += _parse_tokens(",".join(text.splitlines()), "AIOPS_API_TOKENS_FILE")
        security = {
            key.removeprefix("AIOPS_KAFKA_").lower(): value
            for key, value in source.items()
            if key.startswith(("AIOPS_KAFKA_SECURITY_", "AIOPS_KAFKA_SASL_", "AIOPS_KAFKA_SSL_"))
        }
        try:
            directions = parse_overrides(source.get("AIOPS_METRIC_DIRECTIONS", ""))
        except ValueError as exc:
            raise ConfigError(f"AIOPS_METRIC_DIRECTIONS: {exc}") from None
        engine = EngineConfig(
            baseline_window=_float(source, "AIOPS_BASELINE_WINDOW_S", ENGINE_DEFAULTS.baseline_window),
            analysis_window=_float(source, "AIOPS_ANALYSIS_WINDOW_S", ENGINE_DEFAULTS.analysis_window),
            step=_float(source, "AIOPS_CHECK_STEP_S", ENGINE_DEFAULTS.step),
            lateness=_float(source, "AIOPS_LATENESS_S", ENGINE_DEFAULTS.lateness),
            fleet_check=_flag(source, "AIOPS_FLEET_CONTROL", ENGINE_DEFAULTS.fleet_check),
            directions=directions,
            history_window=_float(source, "AIOPS_HISTORY_WINDOW_S", ENGINE_DEFAULTS.history_window),
        )
        return cls(
            db=get("AIOPS_DB", DEFAULT_DB),
            kafka_bootstrap=source.get("AIOPS_KAFKA_BOOTSTRAP") or None,
            topic_metrics=get("AIOPS_TOPIC_METRICS", "aiops.metrics"),
            topic_deploys=get("AIOPS_TOPIC_DEPLOYS", "aiops.deploys"),
            topic_dlq=get("AIOPS_TOPIC_DLQ", "aiops.dlq"),
            topic_rollups=get("AIOPS_TOPIC_ROLLUPS", "aiops.rollups"),
            consumer_group=get("AIOPS_CONSUMER_GROUP", "aiops"),
            kafka_security=security,
            service_labels=tuple(
                s.strip() for s in get("AIOPS_SERVICE_LABELS", "service,job,app").split(",") if s.strip()
            ),
            max_body_bytes=_int(source, "AIOPS_MAX_BODY_BYTES", 8 << 20),
            max_record_bytes=_int(source, "AIOPS_MAX_RECORD_BYTES", 1 << 20),
            tokens=tokens,
            metrics_port=_int(source, "AIOPS_METRICS_PORT", 0) if source.get("AIOPS_METRICS_PORT") else 0,
            api_max_concurrency=_int(source, "AIOPS_API_MAX_CONCURRENCY", 32),
            peer_view=_flag(source, "AIOPS_PEER_VIEW", True),
            peer_rollups=_flag(source, "AIOPS_PEER_ROLLUPS", True),
            engine=engine,
            judge=_judge(get("AIOPS_JUDGE", DEFAULT_JUDGE)),
            service_judge=_service_judge(source),
            service_teams=_service_teams(source),
        )


def _judge(name: str) -> str:
    if name not in JUDGES:
        raise ConfigError(f"AIOPS_JUDGE: {name!r} is not a judge; one of {', '.join(sorted(JUDGES))}")
    return name


def _service_judge(source: Mapping[str, str]) -> str | None:
    """AIOPS_SERVICE_JUDGE names one; AIOPS_MULTIVARIATE=on, the older flag, picks the isolation forest.

    >>> _service_judge({}), _service_judge({"AIOPS_MULTIVARIATE": "on"})
    (None, 'isolation_forest')
    """
    multivariate = _flag(source, "AIOPS_MULTIVARIATE", False)
    name = source.get("AIOPS_SERVICE_JUDGE", "").strip()
    if not name:
        return MULTIVARIATE_JUDGE if multivariate else None
    if name not in SERVICE_JUDGES:
        choices = ", ".join(sorted(SERVICE_JUDGES))
        raise ConfigError(f"AIOPS_SERVICE_JUDGE: {name!r} is not a service judge; one of {choices}")
    if source.get("AIOPS_MULTIVARIATE", "").strip() and not multivariate:
        raise ConfigError(f"AIOPS_MULTIVARIATE: off, yet AIOPS_SERVICE_JUDGE names {name!r}; unset one")
    return name


def _read_config_file(path: Path) -> dict[str, str]:
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise ConfigError(f"AIOPS_CONFIG: cannot read {path}: {exc.strerror}") from None
    values = {}
    for lineno, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"AIOPS_CONFIG: {path}:{lineno}: expected KEY=value")
        values[key.strip()] = value.strip()
    return values


def _service_teams(source: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """``service=team`` pairs from AIOPS_SERVICE_TEAMS (comma-separated) and AIOPS_SERVICE_TEAMS_FILE
    (one pair a line, ``#`` comments); the variable wins over the file for a service in both.

    >>> _service_teams({"AIOPS_SERVICE_TEAMS": "checkout=payments, cart=payments"})
    (('cart', 'payments'), ('checkout', 'payments'))
    """
    teams: dict[str, str] = {}
    if source.get("AIOPS_SERVICE_TEAMS_FILE"):
        path = Path(source["AIOPS_SERVICE_TEAMS_FILE"])
        try:
            lines = path.read_text().splitlines()
        except OSError as exc:
            raise ConfigError(f"AIOPS_SERVICE_TEAMS_FILE: cannot read {path}: {exc.strerror}") from None
        for lineno, line in enumerate(lines, 1):
            if line.strip() and not line.strip().startswith("#"):
                teams.update([_team_pair(line, f"AIOPS_SERVICE_TEAMS_FILE: {path}:{lineno}")])
    for item in filter(None, (p.strip() for p in source.get("AIOPS_SERVICE_TEAMS", "").split(","))):
        teams.update([_team_pair(item, "AIOPS_SERVICE_TEAMS")])
    return tuple(sorted(teams.items()))


def _team_pair(text: str, where: str) -> tuple[str, str]:
    service, sep, team = (part.strip() for part in text.partition("="))
    if not sep or not service or not team:
        raise ConfigError(f"{where}: {text.strip()[:60]!r} must be service=team")
    return service, team


def _parse_tokens(text: str, source: str) -> tuple[ApiToken, ...]:
    tokens = []
    for item in filter(None, (p.strip() for p in text.split(","))):
        parts = item.split(":", 2)
        if len(parts) != 3 or not all(parts):
            raise ConfigError(f"{source}: entries must be name:scope:secret (got one with {len(parts)} part(s))")
        name, scope, secret = parts
        if scope not in ("read", "write"):
            raise ConfigError(f"{source}: token {name!r} has scope {scope!r}; use read or write")
        if len(secret) < 16:
            raise ConfigError(f"{source}: token {name!r} secret is shorter than 16 characters")
        tokens.append(ApiToken(name, scope, secret))
    return tuple(tokens)


def _int(source: Mapping[str, str], name: str, default: int) -> int:
    raw = source.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}: {raw!r} is not an integer") from None
    if value <= 0:
        raise ConfigError(f"{name}: must be positive")
    return value


def _flag(source: Mapping[str, str], name: str, default: bool) -> bool:
    raw = source.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}: {raw!r} must be on or off")


def _float(source: Mapping[str, str], name: str, default: float) -> float:
    raw = source.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}: {raw!r} is not a number") from None
    if not value > 0:
        raise ConfigError(f"{name}: must be positive")
    return value

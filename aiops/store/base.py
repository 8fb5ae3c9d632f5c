"""The Store protocol: what the engine writes and the API reads, whatever the database.

Writes are idempotent: a replayed deploy is keyed by its id, a verdict by its deployment, an
incident by its id and an anomaly by (service, metric, ts, detector), so processing the same records
twice (at-least-once delivery, a replay) never creates a second row.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from aiops.model import DeployEvent, Effects, Feedback, Incident, IncidentStatus, Verdict
from aiops.store.delivery_sql import DeliveryQuery, DeliveryStats

MAX_PAGE = 1000
T = TypeVar("T")


class StoreError(Exception):
    """The store cannot be opened or used; the message says why in one line, for the CLI to print."""


class StoreUnavailable(StoreError, RuntimeError):
    """The database cannot take this call now: down, restarting, locked by another process, or full.

    Raised only after the store has waited and retried for a while, and only where retrying later
    is the right answer: nothing was written (the transaction rolled back), so callers keep what
    they meant to write (a consumer holds its offsets, the API answers 503 with Retry-After).
    The message is one line meant for an operator.
    """


@dataclass(frozen=True, slots=True)
class IncidentFilter:
    service: str | None = None
    status: IncidentStatus | None = None
    deployment_id: str | None = None
    since: float | None = None  # opened_at >= since
    until: float | None = None  # opened_at < until


@dataclass(frozen=True, slots=True)
class DeploymentRow:
    deploy: DeployEvent
    verdict: Verdict | None


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


class Store(Protocol):
    """Persistence for deployments, verdicts, incidents, anomalies and feedback."""

    def migrate(self) -> None: ...

    def write(self, effects: Effects) -> None:
        """Write everything in ``effects`` atomically (all or nothing)."""

    def get_deployment(self, deployment_id: str) -> DeploymentRow | None: ...

    def find_deployment(self, service: str, version: str) -> DeploymentRow | None:
        """The latest deployment of ``version`` of ``service``."""

    def list_deployments(
        self, *, service: str | None = None, limit: int = 100, cursor: str | None = None
    ) -> Page[DeploymentRow]: ...

    def latest_deployments(self) -> list[DeploymentRow]:
        """The latest deployment of every service, by service name."""

    def get_incident(self, incident_id: str) -> Incident | None: ...

    def list_incidents(
        self, filt: IncidentFilter, *, limit: int = 100, cursor: str | None = None
    ) -> Page[Incident]: ...

    def set_incident_status(self, incident_id: str, status: IncidentStatus, at: float) -> Incident | None: ...

    def count_open_incidents(self) -> dict[tuple[str, str], int]:
        """Open incidents by (service, severity), for the Prometheus gauge."""

    def add_feedback(self, feedback: Feedback) -> None: ...

    def list_feedback(self, *, service: str | None = None) -> Sequence[Feedback]: ...

    def delete_feedback(self, feedback_id: str) -> bool:
        """Undo one judgement; False when there was no such feedback."""

    def outbox_deliveries(self, message_id: str) -> list[dict[str, Any]]:
        """How each notification channel fared with one outbox message (aiops/store/outbox.py)."""

    def ping(self) -> bool: ...

    def close(self) -> None: ...

    def set_service_teams(self, teams: Mapping[str, str]) -> None:
        """The configured team of each service (AIOPS_SERVICE_TEAMS), for deploys that name none."""

    def delivery_stats(self, query: DeliveryQuery) -> DeliveryStats:
        """Delivery measures (DORA) over a range, by bucket or team, computed in the database."""


def encode_cursor(ts: float, key: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([ts, key]).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    """Raises ValueError naming the field when the cursor is not one we issued."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        ts, key = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if isinstance(ts, bool) or not isinstance(ts, int | float) or not isinstance(key, str):
            raise TypeError
        return float(ts), key
    except (ValueError, TypeError, json.JSONDecodeError):
        raise ValueError("cursor: not a cursor this service issued") from None


def check_limit(limit: int) -> int:
    if limit < 1 or limit > MAX_PAGE:
        raise ValueError(f"limit: must be between 1 and {MAX_PAGE}")
    return limit

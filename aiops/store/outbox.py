"""The outbox: notifications written in the same transaction as the incident or verdict behind them.

Why in the store: a message enqueued after the commit can be lost by a crash in between, and one
enqueued before can announce an incident that was rolled back. Written inside the write's
transaction, a message exists exactly when its cause does; its id (``incident.opened:inc-...``) is
the idempotency key, so replaying records never enqueues it twice, and every channel sends it with
that key, so a receiver can drop the copy a crash between "sent" and "marked sent" produces.

What is announced (docs/contracts.md section 13): an incident opening, an incident resolving (by the
engine or by a person) and a deploy's verdict becoming ``fail``.

>>> from aiops.model import Incident
>>> inc = Incident("inc-1", "api", 100.0, "api-v2", 0.9, ("lat",), summary="p99 up 50%")
>>> [m.id for m in messages_for_incidents([inc], prior={}, deploys={}, now=5.0)]
['incident.opened:inc-1']
>>> messages_for_incidents([inc], prior={"inc-1": "open"}, deploys={}, now=5.0)
[]
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from aiops.model import Incident, IncidentStatus, Verdict, VerdictResult

LEASE_SENDER = "notify-sender"
TOP_EVIDENCE = 3


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """One notification: ``id`` is its idempotency key, ``body`` the facts channels format."""

    id: str
    kind: str  # incident.opened | incident.resolved | verdict.fail
    service: str
    severity: str
    created_at: float
    body: dict[str, Any]


def _deploy_facts(deployment_id: str | None, deploys: dict[str, tuple[str, float]]) -> dict[str, Any] | None:
    if not deployment_id:
        return None
    version, ts = deploys.get(deployment_id, ("", 0.0))
    return {"id": deployment_id, "version": version, "ts": ts or None}


def _incident_body(kind: str, inc: Incident, deploys: dict[str, tuple[str, float]], at: float) -> dict[str, Any]:
    strongest = sorted(inc.evidence, key=lambda m: m.p_value if m.p_value is not None else 1.0)[:TOP_EVIDENCE]
    return {
        "kind": kind,
        "service": inc.service,
        "severity": inc.severity,
        "incident": {
            "id": inc.id,
            "status": IncidentStatus.RESOLVED.value if kind == "incident.resolved" else inc.status.value,
            "summary": inc.summary,
            "confidence": inc.confidence,
            "opened_at": inc.opened_at,
            "resolved_at": (inc.resolved_at or at) if kind == "incident.resolved" else None,
            "metrics": list(inc.metrics),
        },
        "deployment": _deploy_facts(inc.deployment_id, deploys),
        "evidence": [m.to_dict() for m in strongest],
    }


def messages_for_incidents(
    incidents: Sequence[Incident], prior: dict[str, str], deploys: dict[str, tuple[str, float]], now: float
) -> list[OutboxMessage]:
    """Opened (not seen before) and resolved (was not resolved) transitions; ``prior``: id -> status."""
    state = dict(prior)
    out = []
    for inc in incidents:
        before = state.get(inc.id)
        if before is None:
            out.append(
                OutboxMessage(
                    f"incident.opened:{inc.id}",
                    "incident.opened",
                    inc.service,
                    inc.severity,
                    now,
                    _incident_body("incident.opened", inc, deploys, now),
                )
            )
            before = IncidentStatus.OPEN.value
        if inc.status is IncidentStatus.RESOLVED and before != IncidentStatus.RESOLVED.value:
            out.append(
                OutboxMessage(
                    f"incident.resolved:{inc.id}",
                    "incident.resolved",
                    inc.service,
                    inc.severity,
                    now,
                    _incident_body("incident.resolved", inc, deploys, now),
                )
            )
        state[inc.id] = inc.status.value if before != IncidentStatus.RESOLVED.value else before
    return out


def messages_for_verdicts(
    verdicts: Sequence[Verdict], prior: dict[str, str], deploys: dict[str, tuple[str, float]], now: float
) -> list[OutboxMessage]:
    """A verdict that becomes ``fail``; ``prior``: deployment id -> stored verdict."""
    out = []
    seen = dict(prior)
    for v in verdicts:
        if v.verdict is VerdictResult.FAIL and seen.get(v.deployment_id) != VerdictResult.FAIL.value:
            failing = [m for m in v.metrics if m.verdict is VerdictResult.FAIL][:TOP_EVIDENCE]
            deployment = _deploy_facts(v.deployment_id, deploys) or {}
            if not deployment.get("version"):
                deployment["version"] = v.version
            body = {
                "kind": "verdict.fail",
                "service": v.service,
                "severity": "critical",
                "verdict": {
                    "verdict": v.verdict.value,
                    "score": v.score,
                    "reason": v.reason,
                    "decided_at": v.decided_at,
                },
                "deployment": deployment,
                "evidence": [m.to_dict() for m in failing],
            }
            out.append(
                OutboxMessage(f"verdict.fail:{v.deployment_id}", "verdict.fail", v.service, "critical", now, body)
            )
        seen[v.deployment_id] = v.verdict.value
    return out


class OutboxSql:
    """The outbox, delivery and lease statements of :class:`~aiops.store.sql.SqlStore` (a mixin).

    Expects ``_tx``, ``_sql`` and ``_query`` from the class it is mixed into.
    """

    _tx: Any
    _sql: Any
    _query: Any

    @staticmethod
    def _chunks(ids: Sequence[str], size: int = 500) -> Iterable[Sequence[str]]:
        for k in range(0, len(ids), size):
            yield ids[k : k + size]

    def _lookup(self, cur: Any, statement: str, ids: Sequence[str]) -> list[Any]:
        rows: list[Any] = []
        for part in self._chunks(sorted(set(ids))):
            marks = ", ".join("?" for _ in part)
            cur.execute(self._sql(statement.format(marks=marks)), list(part))
            rows.extend(cur.fetchall())
        return rows

    def _outbox_prior(self, cur: Any, incidents: Sequence[Incident], verdicts: Sequence[Verdict]) -> dict[str, Any]:
        """What the store held before this write: the transitions are judged against it."""
        inc = self._lookup(cur, "SELECT id, status FROM incidents WHERE id IN ({marks})", [i.id for i in incidents])
        failing = [v.deployment_id for v in verdicts if v.verdict is VerdictResult.FAIL]
        ver = self._lookup(cur, "SELECT deployment_id, verdict FROM verdicts WHERE deployment_id IN ({marks})", failing)
        return {"incidents": {r[0]: r[1] for r in inc}, "verdicts": {r[0]: r[1] for r in ver}}

    def _outbox_enqueue(
        self, cur: Any, incidents: Sequence[Incident], verdicts: Sequence[Verdict], prior: dict[str, Any], now: float
    ) -> None:
        wanted = [i.deployment_id for i in incidents if i.deployment_id]
        wanted += [v.deployment_id for v in verdicts if v.verdict is VerdictResult.FAIL]
        rows = self._lookup(cur, "SELECT id, version, ts FROM deployments WHERE id IN ({marks})", wanted)
        deploys = {r[0]: (r[1], float(r[2])) for r in rows}
        messages = messages_for_verdicts(verdicts, prior["verdicts"], deploys, now)
        messages += messages_for_incidents(incidents, prior["incidents"], deploys, now)
        if messages:
            cur.executemany(
                self._sql(
                    "INSERT INTO outbox (id, kind, service, severity, created_at, ord, body) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING"
                ),
                [
                    (m.id, m.kind, m.service, m.severity, m.created_at, k, json.dumps(m.body))
                    for k, m in enumerate(messages)
                ],
            )

    # --- the sender's side -----------------------------------------------------------------------

    def outbox_pending(self, channel: str, *, limit: int = 100, now: float) -> list[OutboxMessage]:
        """The oldest messages ``channel`` has not finished with, in the order they were written."""
        with self._tx() as cur:
            cur.execute(self._sql("SELECT since FROM outbox_channels WHERE channel = ?"), (channel,))
            found = cur.fetchall()
            if not found:  # first sight of this channel: only what is recent is its business
                cur.execute(
                    self._sql("INSERT INTO outbox_channels (channel, since) VALUES (?, ?) ON CONFLICT DO NOTHING"),
                    (channel, now - 3600.0),
                )
                cur.execute(self._sql("SELECT since FROM outbox_channels WHERE channel = ?"), (channel,))
                found = cur.fetchall()
            since = float(found[0][0])
            cur.execute(
                self._sql(
                    "SELECT o.id, o.kind, o.service, o.severity, o.created_at, o.body FROM outbox o "
                    "WHERE o.created_at >= ? AND NOT EXISTS (SELECT 1 FROM outbox_deliveries d "
                    "WHERE d.channel = ? AND d.message_id = o.id) ORDER BY o.created_at, o.ord, o.id LIMIT ?"
                ),
                (since, channel, limit),
            )
            rows = cur.fetchall()
        return [OutboxMessage(r[0], r[1], r[2], r[3], float(r[4]), json.loads(r[5])) for r in rows]

    def outbox_mark(self, channel: str, message_id: str, status: str, attempts: int, detail: str, at: float) -> None:
        """Record that ``channel`` is done with a message (sent, skipped by routing, or failed for good)."""
        with self._tx() as cur:
            cur.execute(
                self._sql(
                    "INSERT INTO outbox_deliveries (channel, message_id, status, attempts, detail, at) "
                    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (channel, message_id) DO NOTHING"
                ),
                (channel, message_id, status, attempts, detail[:500], at),
            )

    def outbox_advance(self, channel: str, before: float) -> None:
        """Nothing of ``channel`` older than ``before`` is pending: later scans start there."""
        with self._tx() as cur:
            cur.execute(
                self._sql("UPDATE outbox_channels SET since = ? WHERE channel = ? AND since < ?"),
                (before, channel, before),
            )

    def outbox_deliveries(self, message_id: str) -> list[dict[str, Any]]:
        """How each channel fared with one message (the console's timeline, operators)."""
        rows = self._query(
            "SELECT channel, status, attempts, detail, at FROM outbox_deliveries WHERE message_id = ? ORDER BY at",
            (message_id,),
        )
        return [
            {"channel": r[0], "status": r[1], "attempts": int(r[2]), "detail": r[3], "at": float(r[4])} for r in rows
        ]

    def acquire_lease(self, name: str, holder: str, ttl: float, now: float) -> bool:
        """Take or renew ``name`` for ``ttl`` seconds; False while another holder's lease is unexpired."""
        with self._tx() as cur:
            cur.execute(
                self._sql("INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"),
                (name, holder, now + ttl),
            )
            cur.execute(
                self._sql(
                    "UPDATE leases SET holder = ?, expires_at = ? WHERE name = ? AND (holder = ? OR expires_at < ?)"
                ),
                (holder, now + ttl, name, holder, now),
            )
            cur.execute(self._sql("SELECT holder FROM leases WHERE name = ?"), (name,))
            return bool(cur.fetchall()[0][0] == holder)

    def release_lease(self, name: str, holder: str) -> None:
        with self._tx() as cur:
            cur.execute(self._sql("DELETE FROM leases WHERE name = ? AND holder = ?"), (name, holder))

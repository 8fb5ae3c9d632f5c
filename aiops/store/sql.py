"""One SQL implementation of :class:`~aiops.store.base.Store` for SQLite and PostgreSQL.

The two engines share the schema and the statements (``INSERT ... ON CONFLICT`` works in both);
only connecting and the parameter marker differ, so the same contract suite covers both.

>>> from aiops.model import DeployEvent, Effects
>>> store = open_store("sqlite://:memory:")
>>> store.write(Effects(deploys=[DeployEvent.create("api", "v1", 100.0)]))
>>> store.list_deployments().items[0].deploy.version
'v1'
"""

from __future__ import annotations

import functools
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from aiops.model import (
    DeployEvent,
    DeployKind,
    Effects,
    Feedback,
    FeedbackLabel,
    Incident,
    IncidentStatus,
    Verdict,
)
from aiops.store.base import (
    DeploymentRow,
    IncidentFilter,
    Page,
    StoreError,
    StoreUnavailable,
    check_limit,
    decode_cursor,
    encode_cursor,
)
from aiops.store.delivery_sql import DeliveryQuery, DeliveryStats, run_delivery_query
from aiops.store.outbox import OutboxSql


def _migrations() -> list[tuple[int, str]]:
    folder = resources.files("aiops.store") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.read_text()))
    return sorted(found)


# Any fixed 64-bit key: the PostgreSQL advisory lock that serialises migrations across processes.
_MIGRATION_LOCK = 0x6A1095
# How long one call waits for the database to come back (a PostgreSQL restart, another SQLite
# writer) before it raises StoreUnavailable; SQLite's own busy timeout comes first.
RETRY_S = 15.0
SQLITE_BUSY_TIMEOUT_S = 30.0
_SEVERAL_PROCESSES = "several processes need PostgreSQL (AIOPS_DB=postgresql://...)"

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _retried(method: Callable[Concatenate[SqlStore, _P], _R]) -> Callable[Concatenate[SqlStore, _P], _R]:
    """Run a store call again while the database is unreachable, restarting or locked.

    Each try is one whole transaction that either committed or rolled back, and every write is
    keyed and idempotent, so a second try can never double a row. A full disk is not waited for:
    it does not clear in seconds, and the caller must hold what it meant to write.
    """

    def call(self: SqlStore, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        deadline = time.monotonic() + self.retry_s
        delay = 0.05
        while True:
            try:
                return method(self, *args, **kwargs)
            except Exception as exc:
                problem = self._transient(exc)
                if problem is None:
                    raise
                reason, wait = problem
                self._drop_connection()
                if not wait or time.monotonic() + delay > deadline:
                    raise StoreUnavailable(reason) from exc
            time.sleep(delay)
            delay = min(delay * 2, 1.0)

    functools.update_wrapper(call, method)
    return call


class SqlStore(OutboxSql):
    """A Store over a DB-API connection; ``dialect`` is ``"sqlite"`` or ``"postgres"``.

    ``connect`` (optional) opens a connection: it is called when there is none yet and, for
    PostgreSQL, again after the server went away, so a restarted database is picked up again.
    """

    def __init__(
        self,
        connection: Any,
        dialect: str,
        *,
        connect: Callable[[], Any] | None = None,
        retry_s: float = RETRY_S,
        name: str = "",
    ) -> None:
        self._conn = connection
        self._dialect = dialect
        self._connect = connect
        self.retry_s = retry_s
        self._name = name or dialect
        # One connection, used from the API's worker threads and the engine: serialise access.
        self._lock = threading.RLock()

    # --- plumbing --------------------------------------------------------------------------------

    def _sql(self, statement: str) -> str:
        return statement.replace("?", "%s") if self._dialect == "postgres" else statement

    def _connection(self) -> Any:
        if self._conn is None:
            if self._connect is None:
                raise StoreUnavailable(f"{self._name}: the connection is closed")
            self._conn = self._connect()
        return self._conn

    def _drop_connection(self) -> None:
        """Forget a PostgreSQL connection the server dropped; the next call opens a new one.

        A SQLite connection is never dropped: it is the database itself for ``:memory:``, and
        a lock or a full disk does not break it.
        """
        if self._dialect != "postgres" or self._connect is None:
            return
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                with suppress(Exception):
                    conn.close()

    def _transient(self, exc: Exception) -> tuple[str, bool] | None:
        """(one-line reason, worth waiting for) when ``exc`` says "not now" rather than "wrong"."""
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if isinstance(exc, sqlite3.OperationalError):
            text = first.lower()
            if "full" in text:
                return f"SQLite database {self._name} is full ({first}): free disk space; nothing was written", False
            if "locked" in text or "busy" in text:
                return (
                    f"SQLite database {self._name} stayed locked by another process past the "
                    f"{SQLITE_BUSY_TIMEOUT_S:g} s busy timeout; {_SEVERAL_PROCESSES}",
                    True,
                )
            if "disk i/o" in text or "unable to open" in text:
                return f"SQLite database {self._name}: {first}", True
            return None
        if self._dialect == "postgres":
            import psycopg

            if isinstance(exc, psycopg.errors.DiskFull):
                return f"PostgreSQL {self._name} is out of disk ({first}); nothing was written", False
            if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
                return f"PostgreSQL {self._name} unreachable ({first})", True
        return None

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        with self._lock:
            conn = self._connection()
            cur = conn.cursor()
            try:
                yield cur
                conn.commit()
            except BaseException:
                with suppress(Exception):  # the server is gone: the transaction died with the connection
                    conn.rollback()
                raise
            finally:
                with suppress(Exception):
                    cur.close()

    @_retried
    def _query(self, statement: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._tx() as cur:
            cur.execute(self._sql(statement), params)
            return list(cur.fetchall())

    def migrate(self) -> None:
        """Apply the migrations not applied yet. Processes starting together on one database
        (several consumers) take turns: each migration runs under a write lock (PostgreSQL: a
        transaction-level advisory lock; SQLite: ``BEGIN IMMEDIATE``, waited for with the busy
        timeout) and re-reads what is done once it holds it."""
        for version, script in _migrations():
            self._migrate_one(version, script)

    @_retried
    def _migrate_one(self, version: int, script: str) -> None:
        with self._tx() as cur:
            if self._dialect == "postgres":
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            else:
                cur.execute("BEGIN IMMEDIATE")
            cur.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)")
            cur.execute(self._sql("SELECT 1 FROM schema_migrations WHERE version = ?"), (version,))
            if cur.fetchall():
                return
            for statement in (s.strip() for s in script.split(";")):
                if statement and not all(line.startswith("--") for line in statement.splitlines()):
                    cur.execute(statement)
            cur.execute(
                self._sql("INSERT INTO schema_migrations (version) VALUES (?) ON CONFLICT DO NOTHING"),
                (version,),
            )

    def ping(self) -> bool:
        """One try, no waiting: readiness must answer at once, also while the database is away."""
        try:
            with self._tx() as cur:
                cur.execute("SELECT 1")
                return bool(cur.fetchall()[0][0] == 1)
        except Exception as exc:
            if self._transient(exc) is not None:
                self._drop_connection()
            return False

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
            self._conn, self._connect = None, None

    # --- writes ----------------------------------------------------------------------------------

    @_retried
    def write(self, effects: Effects) -> None:
        if not effects:
            return
        with self._tx() as cur:
            # Notifications ride in this transaction (aiops/store/outbox.py): judged against what
            # was stored before, enqueued after the rows they announce.
            announce = bool(effects.incidents or effects.verdicts)
            prior = self._outbox_prior(cur, effects.incidents, effects.verdicts) if announce else {}
            if effects.deploys:
                cur.executemany(
                    self._sql(
                        "INSERT INTO deployments (id, service, version, ts, kind, environment, team, commit_ts, "
                        "artifact) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING"
                    ),
                    [
                        (d.id, d.service, d.version, d.ts, d.kind.value, d.environment, d.team, d.commit_ts, d.artifact)
                        for d in effects.deploys
                    ],
                )
            if effects.changes:
                cur.executemany(
                    self._sql(
                        "INSERT INTO changes (id, artifact, ts, service) VALUES (?, ?, ?, ?) "
                        "ON CONFLICT (id) DO NOTHING"
                    ),
                    [(c.id, c.artifact, c.ts, c.service) for c in effects.changes],
                )
            if effects.verdicts:
                cur.executemany(
                    self._sql(
                        "INSERT INTO verdicts (deployment_id, service, verdict, score, decided_at, body) "
                        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (deployment_id) DO UPDATE SET "
                        "verdict = excluded.verdict, score = excluded.score, "
                        "decided_at = excluded.decided_at, body = excluded.body"
                    ),
                    [
                        (v.deployment_id, v.service, v.verdict.value, v.score, v.decided_at, json.dumps(v.to_dict()))
                        for v in effects.verdicts
                    ],
                )
            if effects.incidents:
                # A person's acknowledge/resolve wins over a replay of the engine's view: status is
                # only set by the engine when the incident is new or the engine resolves it.
                cur.executemany(
                    self._sql(
                        "INSERT INTO incidents (id, service, status, severity, opened_at, updated_at, "
                        "resolved_at, deployment_id, confidence, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                        "ON CONFLICT (id) DO UPDATE SET severity = excluded.severity, "
                        "updated_at = excluded.updated_at, confidence = excluded.confidence, "
                        "deployment_id = excluded.deployment_id, body = excluded.body, "
                        "status = CASE WHEN excluded.status = 'resolved' THEN 'resolved' ELSE incidents.status END, "
                        "resolved_at = COALESCE(incidents.resolved_at, excluded.resolved_at)"
                    ),
                    [
                        (
                            i.id,
                            i.service,
                            i.status.value,
                            i.severity,
                            i.opened_at,
                            i.updated_at,
                            i.resolved_at,
                            i.deployment_id,
                            i.confidence,
                            json.dumps(i.to_dict()),
                        )
                        for i in effects.incidents
                    ],
                )
            if effects.anomalies:
                cur.executemany(
                    self._sql(
                        "INSERT INTO anomalies (service, metric, ts, detector, value, score, baseline) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (service, metric, ts, detector) DO NOTHING"
                    ),
                    [(a.service, a.metric, a.ts, a.detector, a.value, a.score, a.baseline) for a in effects.anomalies],
                )
            if announce:
                self._outbox_enqueue(cur, effects.incidents, effects.verdicts, prior, time.time())

    @_retried
    def set_incident_status(self, incident_id: str, status: IncidentStatus, at: float) -> Incident | None:
        resolved_at = at if status is IncidentStatus.RESOLVED else None
        with self._tx() as cur:
            cur.execute(
                self._sql("SELECT body, status, updated_at, resolved_at FROM incidents WHERE id = ?"), (incident_id,)
            )
            before = cur.fetchall()
            cur.execute(
                self._sql("UPDATE incidents SET status = ?, updated_at = ?, resolved_at = ? WHERE id = ?"),
                (status.value, at, resolved_at, incident_id),
            )
            if before and status is IncidentStatus.RESOLVED:
                # A person resolving it is announced like the engine resolving it, in this transaction.
                changed = replace(self._incident(before[0]), status=status, updated_at=at, resolved_at=at)
                prior = {"incidents": {incident_id: before[0][1]}, "verdicts": {}}
                self._outbox_enqueue(cur, [changed], [], prior, time.time())
        return self.get_incident(incident_id)

    @_retried
    def add_feedback(self, feedback: Feedback) -> None:
        with self._tx() as cur:
            cur.execute(
                self._sql(
                    "INSERT INTO feedback (id, target_kind, target_id, label, service, metrics, note, ts, changes) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING"
                ),
                (
                    feedback.id,
                    feedback.target_kind,
                    feedback.target_id,
                    feedback.label.value,
                    feedback.service,
                    json.dumps(list(feedback.metrics)),
                    feedback.note,
                    feedback.ts,
                    json.dumps(dict(feedback.changes)),
                ),
            )

    # --- reads -----------------------------------------------------------------------------------

    _DEPLOY_COLUMNS = "d.id, d.service, d.version, d.ts, d.kind, d.environment, v.body, d.team, d.commit_ts, d.artifact"
    _DEPLOY_FROM = "deployments d LEFT JOIN verdicts v ON v.deployment_id = d.id"

    @staticmethod
    def _deployment_row(row: Sequence[Any]) -> DeploymentRow:
        commit_ts = float(row[8]) if row[8] is not None else None
        kind = DeployKind(row[4])
        deploy = DeployEvent(row[0], row[1], row[2], float(row[3]), kind, row[5], row[7], commit_ts, row[9])
        verdict = Verdict.from_dict(json.loads(row[6])) if row[6] else None
        return DeploymentRow(deploy, verdict)

    def get_deployment(self, deployment_id: str) -> DeploymentRow | None:
        rows = self._query(f"SELECT {self._DEPLOY_COLUMNS} FROM {self._DEPLOY_FROM} WHERE d.id = ?", (deployment_id,))
        return self._deployment_row(rows[0]) if rows else None

    def find_deployment(self, service: str, version: str) -> DeploymentRow | None:
        rows = self._query(
            f"SELECT {self._DEPLOY_COLUMNS} FROM {self._DEPLOY_FROM} "
            "WHERE d.service = ? AND d.version = ? ORDER BY d.ts DESC, d.id DESC LIMIT 1",
            (service, version),
        )
        return self._deployment_row(rows[0]) if rows else None

    def list_deployments(
        self, *, service: str | None = None, limit: int = 100, cursor: str | None = None
    ) -> Page[DeploymentRow]:
        check_limit(limit)
        where: list[str] = []
        params: list[Any] = []
        if service is not None:
            where.append("d.service = ?")
            params.append(service)
        if cursor is not None:
            ts, key = decode_cursor(cursor)
            where.append("(d.ts < ? OR (d.ts = ? AND d.id < ?))")
            params.extend([ts, ts, key])
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = self._query(
            f"SELECT {self._DEPLOY_COLUMNS} FROM {self._DEPLOY_FROM} {clause} ORDER BY d.ts DESC, d.id DESC LIMIT ?",
            [*params, limit + 1],
        )
        items = [self._deployment_row(r) for r in rows[:limit]]
        more = len(rows) > limit
        return Page(items, encode_cursor(items[-1].deploy.ts, items[-1].deploy.id) if more else None)

    def latest_deployments(self) -> list[DeploymentRow]:
        """Each service's latest deployment (the fleet page): one grouped pass over an index."""
        rows = self._query(
            f"SELECT {self._DEPLOY_COLUMNS} FROM {self._DEPLOY_FROM} JOIN "
            "(SELECT service, MAX(ts) AS ts FROM deployments GROUP BY service) last "
            "ON last.service = d.service AND last.ts = d.ts ORDER BY d.service, d.id DESC"
        )
        seen: dict[str, DeploymentRow] = {}
        for row in rows:
            seen.setdefault(row[1], self._deployment_row(row))
        return list(seen.values())

    @staticmethod
    def _incident(row: Sequence[Any]) -> Incident:
        body = json.loads(row[0])
        # The columns hold the lifecycle (a person may have changed it); the body the evidence.
        body.update(status=row[1], updated_at=row[2], resolved_at=row[3])
        return Incident.from_dict(body)

    def get_incident(self, incident_id: str) -> Incident | None:
        rows = self._query("SELECT body, status, updated_at, resolved_at FROM incidents WHERE id = ?", (incident_id,))
        return self._incident(rows[0]) if rows else None

    def list_incidents(self, filt: IncidentFilter, *, limit: int = 100, cursor: str | None = None) -> Page[Incident]:
        check_limit(limit)
        where: list[str] = []
        params: list[Any] = []
        for column, value in (
            ("service", filt.service),
            ("status", filt.status.value if filt.status else None),
            ("deployment_id", filt.deployment_id),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if filt.since is not None:
            where.append("opened_at >= ?")
            params.append(filt.since)
        if filt.until is not None:
            where.append("opened_at < ?")
            params.append(filt.until)
        if cursor is not None:
            ts, key = decode_cursor(cursor)
            where.append("(opened_at < ? OR (opened_at = ? AND id < ?))")
            params.extend([ts, ts, key])
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = self._query(
            f"SELECT body, status, updated_at, resolved_at, opened_at, id FROM incidents {clause} "
            "ORDER BY opened_at DESC, id DESC LIMIT ?",
            [*params, limit + 1],
        )
        items = [self._incident(r) for r in rows[:limit]]
        more = len(rows) > limit
        return Page(items, encode_cursor(items[-1].opened_at, items[-1].id) if more else None)

    def count_open_incidents(self) -> dict[tuple[str, str], int]:
        rows = self._query(
            "SELECT service, severity, COUNT(*) FROM incidents WHERE status IN ('open', 'acknowledged') "
            "GROUP BY service, severity"
        )
        return {(r[0], r[1]): int(r[2]) for r in rows}

    def list_feedback(self, *, service: str | None = None) -> Sequence[Feedback]:
        clause, params = ("WHERE service = ?", [service]) if service else ("", [])
        rows = self._query(
            "SELECT id, target_kind, target_id, label, service, metrics, note, ts, changes "
            f"FROM feedback {clause} ORDER BY ts, id",
            params,
        )
        return [
            Feedback(
                r[1],
                r[2],
                FeedbackLabel(r[3]),
                r[4],
                tuple(json.loads(r[5])),
                r[6],
                float(r[7]),
                r[0],
                tuple(sorted(json.loads(r[8]).items())),
            )
            for r in rows
        ]

    @_retried
    def delete_feedback(self, feedback_id: str) -> bool:
        with self._tx() as cur:
            cur.execute(self._sql("DELETE FROM feedback WHERE id = ?"), (feedback_id,))
            return bool(cur.rowcount)

    # --- delivery metrics (aiops/delivery.py) ----------------------------------------------------

    def set_service_teams(self, teams: Mapping[str, str]) -> None:
        """Make ``teams`` (service -> team, from the configuration) the whole mapping; an empty one
        leaves the stored mapping alone (a process started without it does not erase another's)."""
        if not teams:
            return
        with self._tx() as cur:
            cur.execute("DELETE FROM service_teams")
            # Processes starting together each replace the mapping: the last write wins, none fails.
            cur.executemany(
                self._sql(
                    "INSERT INTO service_teams (service, team) VALUES (?, ?) "
                    "ON CONFLICT (service) DO UPDATE SET team = excluded.team"
                ),
                sorted(teams.items()),
            )

    def delivery_stats(self, query: DeliveryQuery) -> DeliveryStats:
        """The delivery measures of ``query``, computed by SQL (aiops/store/delivery_sql.py)."""
        with self._tx() as cur:
            return run_delivery_query(cur, query, self._sql, self._dialect)


class StoreConfigError(StoreError, ValueError):
    """The store URL is wrong: unknown scheme, or a SQLite file in a folder that does not exist."""


def open_store(url: str, *, retry_s: float | None = None) -> SqlStore:
    """Open and migrate the store named by ``url``: ``sqlite:///path``, ``sqlite://:memory:``, ``postgresql://...``.

    Connecting is retried like any call (``retry_s``), so processes started together, or before
    their database is up, wait for it; if it does not come, :class:`StoreUnavailable` says why in
    one line. A SQLite file's folder must exist: creating it silently (as root, from a typo) hid
    mistakes.

    >>> open_store("mysql://x")
    Traceback (most recent call last):
    ...
    aiops.store.sql.StoreConfigError: unsupported store URL 'mysql://x' (use sqlite:///path or postgresql://...)
    """
    retry_s = RETRY_S if retry_s is None else retry_s
    if url.startswith(("postgresql://", "postgres://")):
        import psycopg

        def connect_postgres() -> Any:
            return psycopg.connect(url, autocommit=False, connect_timeout=5)

        name = url.split("@")[-1]  # never the password
        store = SqlStore(None, "postgres", connect=connect_postgres, retry_s=retry_s, name=name)
    elif url.startswith("sqlite://"):
        # SQLAlchemy's convention: sqlite:///relative.db, sqlite:////absolute/path.db
        path = url.removeprefix("sqlite://").removeprefix("/")
        if path and path != ":memory:":
            folder = Path(path).expanduser().parent
            if not folder.is_dir():
                raise StoreConfigError(f"folder {str(folder)!r} of {url!r} does not exist (create it first)")

        def connect_sqlite() -> Any:
            # The busy timeout makes every statement of this connection wait for another process's
            # write lock instead of failing at once.
            lite = sqlite3.connect(path or ":memory:", check_same_thread=False, timeout=SQLITE_BUSY_TIMEOUT_S)
            try:
                lite.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
                # Readers (the API) never block the writer. Switching needs a lock of its own:
                # skip it when another process has switched the file already.
                if path != ":memory:" and lite.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    lite.execute("PRAGMA journal_mode=WAL")
                lite.execute("PRAGMA synchronous=NORMAL")
            except BaseException:
                lite.close()
                raise
            return lite

        store = SqlStore(None, "sqlite", connect=connect_sqlite, retry_s=retry_s, name=path or ":memory:")
    else:
        raise StoreConfigError(f"unsupported store URL {url!r} (use sqlite:///path or postgresql://...)")
    store.migrate()
    return store

"""One contract suite, run against SQLite and PostgreSQL alike."""

from __future__ import annotations

import threading

import pytest
from conftest import _fresh_postgres, need_env

from aiops.model import (
    DeployEvent,
    Effects,
    Feedback,
    FeedbackLabel,
    Incident,
    IncidentStatus,
    MetricVerdict,
    Verdict,
    VerdictResult,
)
from aiops.store import IncidentFilter, SqlStore, open_store


def verdict(dep: DeployEvent, result: VerdictResult = VerdictResult.PASS) -> Verdict:
    mv = MetricVerdict("latency", result, baseline=1.0, current=1.5, change=0.5, p_value=1e-5, effect=3.0)
    return Verdict(
        dep.id,
        dep.service,
        result,
        30.0 if result is VerdictResult.FAIL else 90.0,
        dep.ts + 60,
        (mv,),
        "because",
        dep.version,
    )


def incident(i: int, service: str = "api", dep: str | None = None) -> Incident:
    return Incident(
        Incident.stable_id(service, str(i)), service, 1000.0 + i, dep, 0.8, ("latency",), summary=f"incident {i}"
    )


TABLES = {"deployments", "verdicts", "incidents", "anomalies", "feedback", "schema_migrations"}


def schema(store: SqlStore) -> tuple[list[int], set[str]]:
    """The applied migration versions and the tables there are, read from the database itself."""
    versions = [int(r[0]) for r in store._query("SELECT version FROM schema_migrations ORDER BY version")]
    if store._dialect == "sqlite":
        rows = store._query("SELECT name FROM sqlite_master WHERE type = 'table'")
    else:
        rows = store._query("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")
    return versions, {str(r[0]) for r in rows}


def test_migrations_are_idempotent(store: SqlStore) -> None:
    from aiops.store.sql import _migrations

    expected = [version for version, _ in _migrations()]
    assert expected[:2] == [1, 2]
    versions, tables = schema(store)
    assert versions == expected and tables >= TABLES
    dep = DeployEvent.create("api", "v1", 100.0)
    store.write(Effects(deploys=[dep]))
    label = FeedbackLabel.FALSE_POSITIVE
    changes = (("latency", 0.2),)
    store.add_feedback(Feedback("deployment", dep.id, label, "api", ("latency",), id="fb-1", changes=changes))
    store.migrate()
    store.migrate()
    assert schema(store)[0] == expected  # each version once
    assert schema(store)[1] >= TABLES
    assert [d.deploy.id for d in store.list_deployments().items] == [dep.id]  # nothing dropped or redone
    assert [dict(f.changes) for f in store.list_feedback()] == [{"latency": 0.2}]  # 0002's column is there


def test_processes_starting_together_on_a_new_postgres_database_migrate_it_once() -> None:
    # Several consumers started at once all open the store: without the advisory lock two of them
    # create the same table and one fails with a unique violation in the catalog.
    from concurrent.futures import ThreadPoolExecutor

    url = _fresh_postgres(need_env("AIOPS_TEST_POSTGRES"))
    barrier = threading.Barrier(6)

    def start() -> bool:
        barrier.wait()
        s = open_store(url)
        try:
            return s.ping()
        finally:
            s.close()

    with ThreadPoolExecutor(6) as pool:
        assert all(pool.map(lambda _: start(), range(6)))
    s = open_store(url)
    try:
        s.write(Effects(deploys=[DeployEvent.create("api", "v1", 1.0)]))
        assert s.list_deployments(limit=10).items[0].deploy.version == "v1"
    finally:
        s.close()


def test_replayed_writes_never_create_a_second_row(store: SqlStore) -> None:
    dep = DeployEvent.create("api", "v1", 100.0)
    effects = Effects(deploys=[dep], verdicts=[verdict(dep)], incidents=[incident(1, dep=dep.id)])
    store.write(effects)
    store.write(effects)
    assert len(store.list_deployments().items) == 1
    assert len(store.list_incidents(IncidentFilter()).items) == 1


def test_deployment_without_verdict_reads_as_pending_row(store: SqlStore) -> None:
    dep = DeployEvent.create("api", "v1", 100.0)
    store.write(Effects(deploys=[dep]))
    row = store.get_deployment(dep.id)
    assert row is not None and row.verdict is None and row.deploy == dep


def test_verdict_round_trips_with_its_evidence(store: SqlStore) -> None:
    dep = DeployEvent.create("api", "v1", 100.0)
    v = verdict(dep, VerdictResult.FAIL)
    store.write(Effects(deploys=[dep], verdicts=[v]))
    row = store.get_deployment(dep.id)
    assert row is not None and row.verdict == v


def test_find_deployment_by_service_and_version_takes_the_latest(store: SqlStore) -> None:
    old, new = DeployEvent.create("api", "v1", 100.0), DeployEvent.create("api", "v1", 500.0)
    store.write(Effects(deploys=[old, new]))
    row = store.find_deployment("api", "v1")
    assert row is not None and row.deploy.id == new.id
    assert store.find_deployment("api", "v9") is None


def test_cursor_pagination_visits_every_incident_once(store: SqlStore) -> None:
    store.write(Effects(incidents=[incident(i) for i in range(25)]))
    seen, cursor = [], None
    while True:
        page = store.list_incidents(IncidentFilter(), limit=7, cursor=cursor)
        seen.extend(i.id for i in page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == 25 == len(set(seen))
    opened = [store.get_incident(i).opened_at for i in seen]  # type: ignore[union-attr]
    assert opened == sorted(opened, reverse=True)


def test_incident_filters(store: SqlStore) -> None:
    store.write(Effects(incidents=[incident(1, "api", "d1"), incident(2, "web"), incident(3, "api")]))
    assert {i.service for i in store.list_incidents(IncidentFilter(service="web")).items} == {"web"}
    assert [i.deployment_id for i in store.list_incidents(IncidentFilter(deployment_id="d1")).items] == ["d1"]
    assert len(store.list_incidents(IncidentFilter(since=1002.0)).items) == 2
    assert len(store.list_incidents(IncidentFilter(until=1002.0)).items) == 1


def test_a_persons_acknowledge_survives_a_replay(store: SqlStore) -> None:
    inc = incident(1)
    store.write(Effects(incidents=[inc]))
    store.set_incident_status(inc.id, IncidentStatus.ACKNOWLEDGED, 2000.0)
    store.write(Effects(incidents=[inc]))
    got = store.get_incident(inc.id)
    assert got is not None and got.status is IncidentStatus.ACKNOWLEDGED
    assert store.count_open_incidents() == {("api", "warning"): 1}
    store.set_incident_status(inc.id, IncidentStatus.RESOLVED, 3000.0)
    assert store.count_open_incidents() == {}


def test_bad_cursor_and_limit_raise_value_errors_naming_the_field(store: SqlStore) -> None:
    with pytest.raises(ValueError, match=r"^cursor:"):
        store.list_incidents(IncidentFilter(), cursor="garbage!")
    with pytest.raises(ValueError, match=r"^limit:"):
        store.list_deployments(limit=5000)


def test_feedback_round_trip(store: SqlStore) -> None:
    fb = Feedback("incident", "inc-1", FeedbackLabel.FALSE_POSITIVE, "api", ("latency",), "noisy", 10.0, "fb-1")
    store.add_feedback(fb)
    store.add_feedback(fb)
    assert list(store.list_feedback()) == [fb]
    assert list(store.list_feedback(service="web")) == []


def test_a_failed_write_leaves_nothing_behind(store: SqlStore) -> None:
    dep = DeployEvent.create("api", "v1", 100.0)
    broken = Verdict(dep.id, "api", VerdictResult.PASS, float("nan"), None)
    bad = Effects(deploys=[dep], verdicts=[broken], incidents=[incident(1)])
    object.__setattr__(broken, "score", object())  # not storable: the transaction must roll back
    with pytest.raises(Exception):  # noqa: B017 - either driver's own error type
        store.write(bad)
    assert store.get_deployment(dep.id) is None
    assert store.list_incidents(IncidentFilter()).items == []


def test_a_sqlite_file_in_a_missing_folder_is_refused_not_created(tmp_path: object) -> None:
    """A typo in AIOPS_DB used to create the folder (as root, under /); now it is a clear error."""
    from pathlib import Path

    from aiops.store import StoreConfigError

    missing = Path(str(tmp_path)) / "no" / "such"
    with pytest.raises(StoreConfigError, match="does not exist"):
        open_store(f"sqlite:///{missing}/a.db")
    assert not missing.parent.exists()
    with pytest.raises(StoreConfigError, match="unsupported store URL"):
        open_store("mysql://x")

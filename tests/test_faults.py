"""Faults survived (issue 14): several processes on one SQLite file, a PostgreSQL restart mid-stream,
an API under overload, a full disk under SQLite.

Each test injects the fault for real where it can (real processes, a real PostgreSQL stopped and
started, a real uvicorn, a real tmpfs filling up) and checks what came out: records in, verdicts and
incidents out, none lost, none doubled.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from aiops import cli
from aiops.eval.simulate import FleetSpec, simulate_fleet
from aiops.model import DeployEvent, Effects
from aiops.store import StoreUnavailable, open_store
from aiops.store import sql as store_sql

ROOT = Path(__file__).resolve().parents[1]


def small_fleet(seed: int = 2) -> list[dict[str, Any]]:
    spec = FleetSpec(services=3, hours=4, deploys_per_service=2, fleet_incidents=0, warmup_hours=2)
    return [e for e in simulate_fleet(spec, seed).events if "_raw" not in e]


# --- several processes starting at once on SQLite -------------------------------------------------

_OPEN_AND_WRITE = """
import sys, time
from aiops.model import DeployEvent, Effects
from aiops.store import open_store
start = float(sys.argv[2])
while time.time() < start:  # every process reaches open_store at the same moment
    pass
store = open_store(sys.argv[1])
store.write(Effects(deploys=[DeployEvent.create("svc", "v-" + sys.argv[3], 100.0, id="d-" + sys.argv[3])]))
store.close()
print("ok")
"""


def test_processes_opening_one_sqlite_file_at_once_all_wait_for_the_lock(tmp_path: Path) -> None:
    # Before: one of them died in the migration race ("duplicate column name: changes") or at
    # PRAGMA journal_mode=WAL ("database is locked"), with a traceback.
    db = f"sqlite:///{tmp_path}/shared.db"
    start = time.time() + 4.0  # after every interpreter has imported aiops
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _OPEN_AND_WRITE, db, str(start), str(i)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(6)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0 and out.strip() == "ok", err
        assert "Traceback" not in err
    store = open_store(db)
    try:
        assert sorted(r.deploy.id for r in store.list_deployments().items) == [f"d-{i}" for i in range(6)]
    finally:
        store.close()


def test_three_aiops_commands_on_one_sqlite_file_at_once(tmp_path: Path) -> None:
    events = small_fleet()
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    db = f"sqlite:///{tmp_path}/shared.db"
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "aiops.cli", "replay", str(path), "--quiet", "--db", db, "--out", os.devnull],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=240) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert "Traceback" not in err, err
        assert p.returncode == 0, err
    store = open_store(db)
    try:
        rows = store.list_deployments(limit=1000).items
        deploys = [e for e in events if "type" in e]  # deploys and rollbacks
        assert len(rows) == len(deploys) > 0  # each deploy once, written by three processes
        assert all(r.verdict is not None for r in rows)
    finally:
        store.close()


def test_a_lock_held_too_long_is_one_line_naming_postgresql(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db_path = tmp_path / "held.db"
    open_store(f"sqlite:///{db_path}").close()
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process in the middle of a long write
    monkeypatch.setattr(store_sql, "SQLITE_BUSY_TIMEOUT_S", 0.2)
    monkeypatch.setattr(store_sql, "RETRY_S", 0.5)
    events = tmp_path / "e.jsonl"
    events.write_text(json.dumps({"type": "deploy", "service": "a", "version": "v1", "ts": 1795000000}) + "\n")
    try:
        with pytest.raises(StoreUnavailable, match="several processes need PostgreSQL"):
            open_store(f"sqlite:///{db_path}", retry_s=0.5)
        code = cli.main(["replay", str(events), "--quiet", "--db", f"sqlite:///{db_path}"])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    err = capsys.readouterr().err.strip()
    assert code == 69  # the CLI's "unavailable" exit (docs/contracts.md): a store, not a usage, problem
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert err.startswith("aiops replay: store unavailable: SQLite database") and "PostgreSQL" in err


def test_a_lock_held_briefly_is_waited_for(tmp_path: Path) -> None:
    db_path = tmp_path / "brief.db"
    store = open_store(f"sqlite:///{db_path}")
    holder = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    started = time.monotonic()
    release = threading.Timer(1.0, lambda: holder.execute("COMMIT"))
    release.start()
    try:
        store.write(Effects(deploys=[DeployEvent.create("svc", "v1", 100.0, id="d-1")]))
    finally:
        release.join()
        holder.close()
    assert time.monotonic() - started >= 0.9  # it waited, then wrote
    assert store.get_deployment("d-1") is not None
    store.close()


# --- the API under overload -------------------------------------------------------------------------


class SlowStore:
    """A store whose reads take ``delay`` seconds (a busy database), counting reads in progress."""

    def __init__(self, inner: Any, delay: float) -> None:
        self.inner = inner
        self.delay = delay
        self.active = 0
        self.most_active = 0
        self._lock = threading.Lock()

    def list_incidents(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            self.active += 1
            self.most_active = max(self.most_active, self.active)
        try:
            time.sleep(self.delay)
            return self.inner.list_incidents(*args, **kwargs)
        finally:
            with self._lock:
                self.active -= 1

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_api_under_overload_answers_503_with_retry_after_and_nothing_else(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    import httpx
    from conftest import LiveServer

    from aiops.api.app import create_app
    from aiops.config import Settings

    inner = open_store(f"sqlite:///{tmp_path}/api.db")
    slow = SlowStore(inner, delay=0.3)
    app = create_app(Settings(api_max_concurrency=4), slow)  # type: ignore[arg-type]
    with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=30) as client:

        def get(_: int) -> httpx.Response:
            return client.get("/v1/incidents")

        with ThreadPoolExecutor(max_workers=40) as pool:
            pending = [pool.submit(get, i) for i in range(120)]
            health = client.get("/healthz")  # liveness answers while the API is saturated
            answers = [f.result() for f in pending]
    inner.close()
    codes = [a.status_code for a in answers]
    assert health.status_code == 200
    assert set(codes) <= {200, 503}, sorted(set(codes))  # refused or served, never a 5xx of another kind
    assert codes.count(200) >= 4 and codes.count(503) > 0, codes
    for a in answers:
        if a.status_code == 503:
            assert a.headers["Retry-After"] == "1"
            assert a.json()["detail"].startswith("overloaded")
    assert slow.most_active <= 4  # the limit held: no piling up behind the store


# --- PostgreSQL restarted mid-stream, a full disk under SQLite (real broker) -------------------------


def _pg_test(action: str) -> None:
    """Stop or start the PostgreSQL of deploy/postgres/pg-test that AIOPS_TEST_POSTGRES points at."""
    subprocess.run([str(ROOT / "deploy" / "postgres" / "pg-test"), action], check=True, capture_output=True)


def _committed_total(bootstrap: str, env: dict[str, str]) -> int:
    """The group's committed offsets, summed over both topics (read without joining the group)."""
    from kafka import KafkaConsumer, TopicPartition

    reader = KafkaConsumer(bootstrap_servers=bootstrap, group_id=env["AIOPS_CONSUMER_GROUP"], enable_auto_commit=False)
    try:
        total = 0
        for topic in (env["AIOPS_TOPIC_METRICS"], env["AIOPS_TOPIC_DEPLOYS"]):
            for p in reader.partitions_for_topic(topic) or ():
                total += reader.committed(TopicPartition(topic, p)) or 0
        return total
    finally:
        reader.close(autocommit=False)


@pytest.mark.kafka
@pytest.mark.postgres
def test_postgresql_restarted_mid_stream_loses_and_doubles_nothing(kafka_bootstrap: str, tmp_path: Path) -> None:
    import httpx
    from conftest import LiveServer, _fresh_postgres, need_env
    from test_kafka_consumers import consume, fleet_events, replay, stop, topics_env, wait_until_equal

    from aiops.api.app import create_app
    from aiops.config import Settings
    from aiops.consumers.produce import produce_events as produce

    if not os.environ.get("AIOPS_PG_DATA"):
        pytest.skip("AIOPS_PG_DATA/AIOPS_PG_PORT: the pg-test instance to restart is not named")
    db = _fresh_postgres(need_env("AIOPS_TEST_POSTGRES"))
    env = topics_env(kafka_bootstrap, db)
    events = fleet_events(seed=7)
    expected = replay(events, tmp_path, env)
    settings = Settings.from_env(env)
    half = len(events) // 2
    produce(events[:half], settings)
    proc = consume(env, tmp_path, "c")
    api_store = open_store(db, retry_s=2.0)
    try:
        with LiveServer(create_app(settings, api_store)) as server, httpx.Client(base_url=server.url) as client:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not client.get("/v1/deployments").json()["items"]:
                time.sleep(0.5)
            _pg_test("stop")
            try:
                produce(events[half:], settings)  # the consumer reads on, its writes now fail
                during = client.get("/v1/deployments", timeout=30)
                time.sleep(25)  # longer than the store's retry window: the consumer must hold
            finally:
                _pg_test("start")
            got = wait_until_equal(db, expected, timeout=150)
            after = client.get("/v1/deployments", params={"limit": 1000})
        assert proc.poll() is None, "the consumer died while PostgreSQL was down"
    finally:
        stop(proc)
        api_store.close()
    assert during.status_code == 503 and during.headers["Retry-After"] == "5", during.text
    assert after.status_code == 200  # the API reconnected by itself
    assert len(after.json()["items"]) == len({e["id"] for e in events if "type" in e})
    log = (tmp_path / "c.log").read_text()
    assert "holding" in log and "PostgreSQL" in log, log[-2000:]  # the outage was met, and waited out
    assert "Traceback" not in log
    assert got == expected  # every verdict and incident once, the same as an uninterrupted replay
    assert len({i[0] for i in got["incidents"]}) == len(got["incidents"])


@pytest.mark.kafka
def test_full_disk_under_sqlite_holds_offsets_and_skips_nothing(kafka_bootstrap: str, tmp_path: Path) -> None:
    from test_kafka_consumers import consume, fleet_events, replay, stop, stored, topics_env, wait_until_equal

    from aiops.config import Settings
    from aiops.consumers.produce import produce_events

    disk = tmp_path / "disk"
    disk.mkdir()
    # A real full filesystem: a 16 MiB tmpfs (needs root, as the CI container has).
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        db = f"sqlite:///{disk}/aiops.db"
        env = topics_env(kafka_bootstrap, db)
        events = fleet_events(seed=7)
        expected = replay(events, tmp_path, env)
        settings = Settings.from_env(env)
        half = len(events) // 2
        produce_events(events[:half], settings)
        proc = consume(env, tmp_path, "c")
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and len(stored(db)["verdicts"]) < 2:
                time.sleep(0.5)
            assert stored(db)["verdicts"], "no progress before the disk filled"
            filler = disk / "filler"
            subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], capture_output=True)  # until ENOSPC
            produce_events(events[half:], settings)
            time.sleep(10)
            held_at = _committed_total(kafka_bootstrap, env)
            time.sleep(8)
            still = _committed_total(kafka_bootstrap, env)
            log_when_full = (tmp_path / "c.log").read_text()
            filler.unlink()  # space again: the held batch is written, reading resumes
            got = wait_until_equal(db, expected, timeout=150)
            assert proc.poll() is None, "the consumer died on the full disk"
        finally:
            stop(proc)
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)
    assert "is full" in log_when_full and "holding" in log_when_full, log_when_full[-2000:]
    assert "Traceback" not in log_when_full
    assert held_at == still < len(events)  # no commit while the store could not write
    assert got == expected  # nothing skipped: every verdict and incident, once


@pytest.mark.kafka
@pytest.mark.timeout(600)  # real time: two deploys, each decided 4-5 minutes after it (see below)
def test_live_latency_benchmark_runs(kafka_bootstrap: str, capsys: pytest.CaptureFixture[str]) -> None:
    # A smoke run of benchmarks/live_latency.py: a few services, short looks, two failing deploys.
    from benchmarks.live_latency import main

    # The judge fails a deploy once 4 one-minute bins after it hold the move (3, and a bin earlier
    # too): at real speed that is 4-5 minutes, hence the timeout.
    small = "--services 12 --deploys 2 --history-min 36 --deploy-every 5 --lateness 10 --step 20 --timeout 420"
    code = main(["--bootstrap", kafka_bootstrap, *small.split()])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "2 of 2 deploys failed in time" in out
    assert re.search(r"p50 [\d.]+ s, p95 [\d.]+ s, max [\d.]+ s \(n=2\)", out), out

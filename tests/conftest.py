"""Shared fixtures: both store engines, a real broker, a real HTTP server, simulated fleets.

External services come from .ci/run: AIOPS_TEST_POSTGRES (a PostgreSQL URL) and
AIOPS_TEST_KAFKA (a bootstrap address). Outside CI a test that needs a missing one is skipped; in
CI (CI=true) it fails instead, so a broken service start can never pass silently.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from aiops.store import SqlStore, open_store

IN_CI = os.environ.get("CI", "").lower() == "true"


def need_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        if IN_CI:
            pytest.fail(f"{name} is not set in CI: .ci/run should have started the service")
        pytest.skip(f"{name} not set (run through .ci/run for this test)")
    return value


def _fresh_postgres(url: str) -> str:
    """A new database per test run so suites never see each other's rows."""
    import psycopg

    name = f"aiops_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[SqlStore]:
    if request.param == "sqlite":
        s = open_store(f"sqlite:///{tmp_path}/aiops.db")
    else:
        s = open_store(_fresh_postgres(need_env("AIOPS_TEST_POSTGRES")))
    yield s
    s.close()


@pytest.fixture
def sqlite_store(tmp_path: Any) -> Iterator[SqlStore]:
    s = open_store(f"sqlite:///{tmp_path}/aiops.db")
    yield s
    s.close()


@pytest.fixture
def kafka_bootstrap() -> str:
    return need_env("AIOPS_TEST_KAFKA")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LiveServer:
    """A real uvicorn on a loopback port, in a thread, for tests that speak HTTP over a socket."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

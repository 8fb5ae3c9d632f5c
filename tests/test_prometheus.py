"""A real Prometheus scrapes a running aiops and its shipped alert goes pending after a bad deploy."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from conftest import IN_CI, LiveServer, free_port
from fleets import T0, deploy, in_time_order, service_samples

from aiops.api.app import create_app
from aiops.config import Settings
from aiops.store import SqlStore

pytestmark = pytest.mark.prometheus
RULES = Path(__file__).resolve().parents[1] / "deploy" / "prometheus" / "aiops.rules.yml"


def prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if not found:
        if IN_CI:
            pytest.fail("prometheus is not installed in CI: scripts/test should have installed it")
        pytest.skip("prometheus not installed")
    return found


def test_alert_goes_pending_after_a_bad_deploy(sqlite_store: SqlStore, tmp_path: Path) -> None:
    binary = prometheus_binary()
    app = create_app(Settings(), sqlite_store)
    deploy_at = T0 + 90 * 60
    app.state.pipeline.ingest_records(
        in_time_order([*service_samples("checkout", shift_at=deploy_at, shift=0.5), deploy("checkout", deploy_at)])
    )
    with LiveServer(app) as aiops:
        port = free_port()
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            f"rule_files: ['{RULES}']\n"
            "scrape_configs:\n"
            f"  - job_name: aiops\n    static_configs: [{{targets: ['127.0.0.1:{aiops.port}']}}]\n"
        )
        prom = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            states: dict[str, str] = {}
            while time.monotonic() < deadline:
                try:
                    alerts = httpx.get(f"http://127.0.0.1:{port}/api/v1/alerts", timeout=2).json()["data"]["alerts"]
                    states = {a["labels"]["alertname"]: a["state"] for a in alerts}
                except (httpx.HTTPError, KeyError, ValueError):
                    pass
                if states.get("AiopsDeployRegression") in ("pending", "firing"):
                    break
                time.sleep(0.5)
        finally:
            prom.terminate()
            _, err = prom.communicate(timeout=30)
    assert states.get("AiopsDeployRegression") in ("pending", "firing"), (states, err[-2000:])
    assert "AiopsDown" not in states

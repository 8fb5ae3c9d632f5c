"""End to end on the real broker: topics -> `aiops serve --consume` -> verdict over HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from conftest import free_port
from fleets import T0, deploy, in_time_order, service_samples

from aiops.config import Settings
from aiops.consumers.produce import produce_events
from aiops.model import DeployEvent

pytestmark = pytest.mark.kafka
DEPLOY_AT = T0 + 90 * 60


def as_json(r: object) -> dict[str, object]:
    if isinstance(r, DeployEvent):
        return {"type": "deploy", "id": r.id, "service": r.service, "version": r.version, "ts": r.ts}
    return {"service": r.service, "metric": r.metric, "ts": r.ts, "value": r.value}  # type: ignore[attr-defined]


def wait_for(url: str, predicate: object, timeout: float = 90.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    last: dict[str, object] = {}
    while time.monotonic() < deadline:
        try:
            reply = httpx.get(url, timeout=5)
            if reply.status_code == 200:
                last = reply.json()
                if predicate(last):  # type: ignore[operator]
                    return last
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting on {url}; last answer {last}")


def test_metrics_and_deploy_on_kafka_give_a_verdict_over_http(kafka_bootstrap: str, tmp_path: Path) -> None:
    run = uuid.uuid4().hex[:8]
    env = {
        "AIOPS_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "AIOPS_TOPIC_METRICS": f"e2e-{run}.metrics",
        "AIOPS_TOPIC_DEPLOYS": f"e2e-{run}.deploys",
        "AIOPS_TOPIC_DLQ": f"e2e-{run}.dlq",
        "AIOPS_TOPIC_ROLLUPS": f"e2e-{run}.rollups",
        "AIOPS_CONSUMER_GROUP": f"e2e-{run}",
        "AIOPS_DB": f"sqlite:///{tmp_path}/e2e.db",
    }
    settings = Settings.from_env(env)
    records = in_time_order(
        [
            *service_samples("api", shift_at=DEPLOY_AT, shift=0.5),
            deploy("api", DEPLOY_AT),
            *service_samples("web", seed=1),
            deploy("web", DEPLOY_AT + 300),
        ]
    )
    produce_events([as_json(r) for r in records], settings)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "aiops.cli", "serve", "--consume", "--port", str(port)],
        env={**os.environ, **env},
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        bad = wait_for(f"{base}/v1/deployments/api-v2/verdict", lambda v: v["verdict"] != "pending")
        good = wait_for(f"{base}/v1/deployments/web-v2/verdict", lambda v: v["verdict"] != "pending")
        assert bad["verdict"] == "fail" and good["verdict"] == "pass"
        incidents = httpx.get(f"{base}/v1/incidents").json()["items"]
        assert [i["deployment_id"] for i in incidents] == ["api-v2"]
        lag = httpx.get(f"{base}/metrics").text
        assert "aiops_ingest_records_total" in lag and 'source="kafka"' in lag
    finally:
        server.terminate()
        out, _ = server.communicate(timeout=30)
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it: -15 is a clean stop too.
    assert server.returncode in (0, -signal.SIGTERM), out
    assert "Traceback" not in out, out

"""A real Alertmanager (Debian's prometheus-alertmanager) lists an incident's alert, then its resolution."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import IN_CI, free_port

from aiops.model import Effects, Incident, IncidentStatus
from aiops.notify.channels import AlertmanagerChannel
from aiops.notify.sender import Sender
from aiops.notify.settings import NotifySettings
from aiops.store import SqlStore

BINARY = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
CONFIG = """route:
  receiver: "null"
  group_by: [service]
receivers:
  - name: "null"
"""


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    if BINARY is None:
        if IN_CI:
            pytest.fail("prometheus-alertmanager is missing in CI: scripts/test installs it")
        pytest.skip("prometheus-alertmanager not installed (Debian package prometheus-alertmanager; scripts/test)")
    (tmp_path / "am.yml").write_text(CONFIG)
    port = free_port()
    proc = subprocess.Popen(
        [
            BINARY,
            f"--config.file={tmp_path / 'am.yml'}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"alertmanager did not start: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def ours(url: str) -> list[dict[str, object]]:
    alerts: list[dict[str, object]] = httpx.get(
        f"{url}/api/v2/alerts", params={"filter": 'alertname="AiopsIncident"'}
    ).json()
    return alerts


def test_incident_becomes_an_alert_then_resolves(sqlite_store: SqlStore, alertmanager: str) -> None:
    inc = Incident(
        "inc-am1",
        "checkout",
        time.time() - 60,
        "checkout-v7",
        0.95,
        ("p99",),
        severity="critical",
        summary="p99 latency +40% after checkout v7",
    )
    from aiops.model import DeployEvent

    sqlite_store.write(
        Effects(deploys=[DeployEvent.create("checkout", "v7", time.time() - 120, id="checkout-v7")], incidents=[inc])
    )
    settings = NotifySettings(alertmanager_url=alertmanager, poll_s=0.05, max_backoff_s=0.1)
    sender = Sender(sqlite_store, [AlertmanagerChannel(alertmanager, "https://aiops.example")], settings)
    assert sender.run_once() == 1
    alerts = ours(alertmanager)
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert["labels"] == {
        "alertname": "AiopsIncident",
        "service": "checkout",
        "deploy": "v7",
        "severity": "critical",
        "incident": "inc-am1",
    }
    assert alert["status"]["state"] == "active"  # type: ignore[index]
    assert alert["annotations"]["console"] == "https://aiops.example/ui/incidents/inc-am1"  # type: ignore[index]

    sqlite_store.set_incident_status("inc-am1", IncidentStatus.RESOLVED, time.time())
    assert sender.run_once() == 1
    deadline = time.monotonic() + 10
    while ours(alertmanager) and time.monotonic() < deadline:  # resolved alerts leave the active list
        time.sleep(0.2)
    assert ours(alertmanager) == []
    sent = sqlite_store.outbox_deliveries("incident.resolved:inc-am1")
    assert sent[0]["channel"] == "alertmanager" and sent[0]["status"] == "sent"


def test_open_incidents_are_re_posted_so_alertmanager_keeps_them_firing(
    sqlite_store: SqlStore, alertmanager: str
) -> None:
    inc = Incident("inc-am2", "cart", time.time() - 60, None, 0.8, ("errors",), severity="warning", summary="errors")
    sqlite_store.write(Effects(incidents=[inc]))
    channel = AlertmanagerChannel(alertmanager, "http://aiops.local")
    sender = Sender(sqlite_store, [channel], NotifySettings(alertmanager_url=alertmanager))
    sender.refresh_alerts()  # without any outbox message: the periodic re-post alone
    alerts = ours(alertmanager)
    assert [a["labels"]["incident"] for a in alerts] == ["inc-am2"]  # type: ignore[index]
    assert alerts[0]["labels"]["deploy"] == "none"  # type: ignore[index]

"""Notifications: the outbox rides in the store's transaction; the sender delivers once, in order."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import free_port
from receiver import Receiver

from aiops.metrics import Metrics
from aiops.model import Anomaly, Effects, Incident, IncidentStatus
from aiops.notify.channels import AlertmanagerChannel, SlackChannel, WebhookChannel
from aiops.notify.sender import Sender
from aiops.notify.settings import NotifySettings, Route
from aiops.notify.signing import verify_webhook
from aiops.store import SqlStore, open_store

SECRET = "webhook-secret-0123456789"
ROOT = Path(__file__).resolve().parents[1]


def incident(n: int, status: IncidentStatus = IncidentStatus.OPEN) -> Incident:
    return Incident(
        f"inc-{n:04d}",
        f"svc{n % 3}",
        1_795_000_000.0 + n,
        f"dep-{n}",
        0.9,
        ("latency_p99",),
        status,
        severity="critical",
        summary=f"latency up (incident {n})",
        resolved_at=1_795_000_500.0 + n if status is IncidentStatus.RESOLVED else None,
    )


def outbox_ids(store: SqlStore) -> list[str]:
    return [r[0] for r in store._query("SELECT id FROM outbox ORDER BY created_at, ord, id")]


def fast(**kw: float) -> NotifySettings:
    return NotifySettings(lease_s=5.0, poll_s=0.02, max_backoff_s=0.05, timeout_s=5.0, **kw)  # type: ignore[arg-type]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def test_outbox_is_written_with_the_incident_and_only_once(store: SqlStore) -> None:
    store.write(Effects(incidents=[incident(1)]))
    store.write(Effects(incidents=[incident(1)]))  # a replay of the same records
    assert outbox_ids(store) == ["incident.opened:inc-0001"]
    store.write(Effects(incidents=[incident(1, IncidentStatus.RESOLVED)]))
    store.write(Effects(incidents=[incident(1, IncidentStatus.RESOLVED)]))
    assert outbox_ids(store) == ["incident.opened:inc-0001", "incident.resolved:inc-0001"]


def test_a_person_resolving_is_announced_and_acknowledging_is_not(store: SqlStore) -> None:
    store.write(Effects(incidents=[incident(2)]))
    store.set_incident_status("inc-0002", IncidentStatus.ACKNOWLEDGED, 10.0)
    assert outbox_ids(store) == ["incident.opened:inc-0002"]
    store.set_incident_status("inc-0002", IncidentStatus.RESOLVED, 20.0)
    body = json.loads(store._query("SELECT body FROM outbox WHERE id = 'incident.resolved:inc-0002'")[0][0])
    assert body["incident"]["resolved_at"] == 20.0 and body["incident"]["status"] == "resolved"


def test_no_message_when_the_write_rolls_back(store: SqlStore) -> None:
    broken = Anomaly("svc", "m", 1.0, None, 1.0, "d")  # type: ignore[arg-type]  # NOT NULL value: the write fails
    with pytest.raises(Exception):  # noqa: B017 - sqlite3 and psycopg raise different classes
        store.write(Effects(incidents=[incident(3)], anomalies=[broken]))
    assert store.get_incident("inc-0003") is None and outbox_ids(store) == []


def test_a_failed_verdict_of_a_replayed_bad_deploy_is_announced(sqlite_store: SqlStore) -> None:
    from console_fleet import replay_bad_deploy

    incident_id = replay_bad_deploy(sqlite_store)
    ids = outbox_ids(sqlite_store)
    assert ids == ["verdict.fail:api-v2", f"incident.opened:{incident_id}"]


def test_receiver_down_then_up_gets_everything_once_in_order(sqlite_store: SqlStore, receiver: Receiver) -> None:
    receiver.fail_first = 7
    sqlite_store.write(Effects(incidents=[incident(n) for n in range(10)]))
    expected = outbox_ids(sqlite_store)
    channel = WebhookChannel(receiver.url, SECRET, "http://console")
    metrics = Metrics()
    sender = Sender(sqlite_store, [channel], fast(), metrics=metrics)
    deadline = time.monotonic() + 30
    while len(receiver.accepted_keys()) < 10 and time.monotonic() < deadline:
        sender.run_once()
        time.sleep(0.01)
    assert receiver.accepted_keys() == expected
    assert [d.key for d in receiver.deliveries[:7]] == [expected[0]] * 7  # it retried the head, did not skip it
    assert len(receiver.deliveries) == 17  # 7 refusals + each message once
    counted = metrics.registry.get_sample_value
    assert counted("aiops_notifications_total", {"channel": "webhook", "outcome": "retry"}) == 7
    assert counted("aiops_notifications_total", {"channel": "webhook", "outcome": "sent"}) == 10
    for d in receiver.deliveries:
        assert verify_webhook(SECRET, d.headers, d.body, time.time())
    assert d.json()["id"] == d.key and d.json()["link"].startswith("http://console/ui/incidents/")


def test_a_refused_message_is_given_up_after_three_tries_and_the_rest_go(sqlite_store: SqlStore) -> None:
    sqlite_store.write(Effects(incidents=[incident(n) for n in range(3)]))
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        key = request.headers["idempotency-key"]
        calls.append(key)
        return httpx.Response(400 if key.endswith("inc-0000") else 200)

    sender = Sender(
        sqlite_store,
        [WebhookChannel("http://hook", SECRET, "x")],
        fast(),
        client=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    for _ in range(50):
        sender.run_once()
        time.sleep(0.01)
    assert calls == ["incident.opened:inc-0000"] * 3 + ["incident.opened:inc-0001", "incident.opened:inc-0002"]
    assert sqlite_store.outbox_deliveries("incident.opened:inc-0000")[0]["status"] == "failed"


def test_routing_skips_what_a_channel_does_not_take(sqlite_store: SqlStore, receiver: Receiver) -> None:
    sqlite_store.write(Effects(incidents=[incident(n) for n in range(6)]))
    channel = WebhookChannel(receiver.url, SECRET, "x", Route(("svc1",), "warning"))
    Sender(sqlite_store, [channel], fast()).run_once()
    assert receiver.accepted_keys() == ["incident.opened:inc-0001", "incident.opened:inc-0004"]
    assert sqlite_store.outbox_deliveries("incident.opened:inc-0000")[0]["status"] == "skipped"


def test_only_the_lease_holder_sends(store: SqlStore, receiver: Receiver) -> None:
    store.write(Effects(incidents=[incident(1)]))
    channel = WebhookChannel(receiver.url, SECRET, "x")
    first = Sender(store, [channel], fast(), holder="a")
    second = Sender(store, [channel], fast(), holder="b")
    assert first.holding() and not second.holding()
    assert second.run_once() == 0 and receiver.deliveries == []
    assert first.run_once() == 1
    first._stop.set()
    store.release_lease("notify-sender", "a")  # what stop() does: the other replica takes over at once
    assert second.holding()


def test_slack_payload_has_blocks_deploy_evidence_and_link() -> None:
    from aiops.model import MetricVerdict, VerdictResult
    from aiops.store.outbox import messages_for_incidents

    inc = Incident(
        "inc-9",
        "api",
        1.0,
        "api-v2",
        0.97,
        ("p99",),
        severity="critical",
        summary="p99 up",
        evidence=(MetricVerdict("p99", VerdictResult.FAIL, 0.2, 0.3, 0.5, 1e-9),),
    )
    msg = messages_for_incidents([inc], {}, {"api-v2": ("v2", 0.0)}, 5.0)[0]
    payload = SlackChannel("http://slack", "https://aiops.example").payload(msg)
    text = json.dumps(payload["blocks"])
    assert payload["blocks"][0]["type"] == "header" and "Incident opened: api (critical)" in text
    assert "Deploy: api v2 (api-v2)" in text and "p99: +50.0%" in text
    assert "https://aiops.example/ui/incidents/inc-9" in text
    assert "blocks" not in SlackChannel("http://mm", "x", "mattermost").payload(msg)
    teams = SlackChannel("http://teams", "x", "teams").payload(msg)
    assert teams["attachments"][0]["content"]["type"] == "AdaptiveCard"
    am = AlertmanagerChannel("http://am", "x").request(msg, 10.0)
    alert = json.loads(am.body)[0]
    assert alert["labels"] | {} == {
        "alertname": "AiopsIncident",
        "service": "api",
        "deploy": "v2",
        "severity": "critical",
        "incident": "inc-9",
    }
    assert "endsAt" not in alert and am.url == "http://am/api/v2/alerts"


def _serve(db: str, hook: str, port: int, logs: Path, **extra: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        **extra,
        "AIOPS_DB": db,
        "AIOPS_NOTIFY_WEBHOOK_URL": hook,
        "AIOPS_NOTIFY_WEBHOOK_SECRET": SECRET,
        "AIOPS_NOTIFY_LEASE_S": "2",
        "AIOPS_NOTIFY_POLL_S": "0.05",
        "AIOPS_NOTIFY_MAX_BACKOFF_S": "0.2",
    }
    env.pop("AIOPS_API_TOKENS", None)
    return subprocess.Popen(
        [sys.executable, "-m", "aiops.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(logs / f"serve-{port}.log").open("wb"),
    )


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store URL several processes share: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/aiops.db"
    from conftest import _fresh_postgres, need_env

    return _fresh_postgres(need_env("AIOPS_TEST_POSTGRES"))


def test_sender_killed_mid_delivery_then_restarted_loses_nothing_doubles_nothing(
    db_url: str, receiver: Receiver, tmp_path: Path
) -> None:
    db = db_url
    store = open_store(db)
    store.write(Effects(incidents=[incident(n) for n in range(20)]))
    expected = outbox_ids(store)
    receiver.hold_at = 8  # the 8th request stays unanswered: the sender is killed while it waits
    first = _serve(db, receiver.url, free_port(), tmp_path)
    try:
        assert receiver.wait_for(8, timeout=60), "the sender in `aiops serve` never reached the 8th message"
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        first.kill()
    receiver.released.set()
    in_flight = receiver.deliveries[7].key
    assert receiver.accepted_keys() == expected[:8]
    second = _serve(db, receiver.url, free_port(), tmp_path)
    try:
        deadline = time.monotonic() + 60
        while len(receiver.accepted_keys()) < 20 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(15)
    assert receiver.accepted_keys() == expected  # every message, in order
    keys = [d.key for d in receiver.deliveries]
    doubled = {k for k in keys if keys.count(k) > 1}
    assert doubled <= {in_flight}  # only the request in flight at the kill came twice, with the same key
    delivered = {r[0] for r in store._query("SELECT message_id FROM outbox_deliveries WHERE status = 'sent'")}
    assert delivered == set(expected)
    store.close()


def test_aiops_serve_announces_a_bad_deploy_ingested_over_http_to_slack(tmp_path: Path, receiver: Receiver) -> None:
    """The whole chain in the real process: POST /v1/events -> engine -> outbox -> sender -> Slack."""
    from console_fleet import DEPLOY_AT
    from fleets import deploy, in_time_order, service_samples

    slack = Receiver()
    port = free_port()
    proc = _serve(
        f"sqlite:///{tmp_path}/aiops.db",
        receiver.url,
        port,
        tmp_path,
        AIOPS_NOTIFY_SLACK_URL=slack.url,
        AIOPS_PUBLIC_URL="https://aiops.example",
    )
    try:
        records = in_time_order([*service_samples("api", shift_at=DEPLOY_AT, shift=0.5), deploy("api", DEPLOY_AT)])
        lines = [
            {"type": "deploy", "id": r.id, "service": r.service, "version": r.version, "ts": r.ts}
            if hasattr(r, "version")
            else {"service": r.service, "metric": r.metric, "ts": r.ts, "value": r.value}  # type: ignore[union-attr]
            for r in records
        ]
        deadline = time.monotonic() + 30
        while True:
            try:
                reply = httpx.post(f"http://127.0.0.1:{port}/v1/events", json=lines, timeout=60)
                break
            except httpx.ConnectError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        assert reply.status_code == 200, reply.text
        assert slack.wait_for(2, timeout=30) and receiver.wait_for(2, timeout=30)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)
        slack.close()
    kinds = [d.key.split(":")[0] for d in slack.deliveries]
    assert kinds == ["verdict.fail", "incident.opened"]
    blocks = json.dumps(slack.deliveries[1].json()["blocks"])
    assert "Incident opened: api" in blocks and "Deploy: api v2 (api-v2)" in blocks
    assert "https://aiops.example/ui/incidents/inc-" in blocks
    assert [d.key for d in receiver.deliveries] == [d.key for d in slack.deliveries]  # same keys on every channel


def test_serve_refuses_a_webhook_without_its_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from aiops.cli import main

    monkeypatch.setenv("AIOPS_DB", f"sqlite:///{tmp_path}/aiops.db")
    monkeypatch.setenv("AIOPS_NOTIFY_WEBHOOK_URL", "http://127.0.0.1:9/hook")
    monkeypatch.delenv("AIOPS_NOTIFY_WEBHOOK_SECRET", raising=False)
    monkeypatch.delenv("AIOPS_API_TOKENS", raising=False)
    assert main(["serve", "--port", str(free_port())]) == 2
    assert "AIOPS_NOTIFY_WEBHOOK_SECRET: needed with AIOPS_NOTIFY_WEBHOOK_URL" in capsys.readouterr().err

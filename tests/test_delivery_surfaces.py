"""Delivery metrics where people and tools read them: the API, Prometheus, the CLI, the dashboard."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from delivery_fixture import END, W0, W1, load
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from test_delivery import SUMMARY, WEEK_1

from aiops.api.app import create_app
from aiops.config import ApiToken, Settings
from aiops.delivery import team_measures
from aiops.delivery_cli import run_report
from aiops.metrics import Metrics
from aiops.store import SqlStore, open_store

READ = "r" * 20


@pytest.fixture
def client(store: SqlStore) -> Iterator[TestClient]:
    load(store)
    with TestClient(create_app(Settings(), store, CollectorRegistry())) as c:
        yield c


def test_delivery_endpoint_answers_the_hand_computed_report(client: TestClient) -> None:
    r = client.get("/v1/delivery", params={"from": "2026-11-02T00:00:00Z", "to": str(END), "bucket": "week"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["from"], body["to"], body["bucket"], body["service"], body["team"]) == (W0, END, "week", None, None)
    assert body["summary"] == SUMMARY
    assert len(body["buckets"]) == 3
    week_1 = {k: v for k, v in body["buckets"][1].items() if k not in ("start", "end", "label")}
    assert body["buckets"][1]["start"] == W1 and week_1 == WEEK_1


def test_delivery_endpoint_filters_by_team_and_service(client: TestClient) -> None:
    team = client.get("/v1/delivery", params={"from": W0, "to": END, "team": "growth", "bucket": "month"}).json()
    assert team["summary"]["deployment_frequency"]["deployments"] == 1
    assert [b["label"] for b in team["buckets"]] == ["2026-11-02T00:00:00Z"]
    service = client.get("/v1/delivery", params={"from": W0, "to": END, "service": "search"}).json()
    assert service["summary"]["change_failure_rate"]["failures"] == 1


@pytest.mark.parametrize(
    ("params", "status", "detail"),
    [
        ({"from": "last tuesday"}, 400, "from: 'last tuesday' is not epoch seconds or an RFC 3339 time"),
        ({"from": str(END), "to": str(W0)}, 400, "to: must be after from"),
        ({"from": "0", "to": str(END), "bucket": "day"}, 400, "bucket: more than 1500 days in this range"),
        ({"team": "a\tb"}, 400, "team: contains control characters"),
    ],
)
def test_bad_delivery_parameters_name_the_field(
    client: TestClient, params: dict[str, str], status: int, detail: str
) -> None:
    r = client.get("/v1/delivery", params=params)
    assert r.status_code == status
    assert r.json()["detail"].startswith(detail)


def test_bad_bucket_is_a_validation_error(client: TestClient) -> None:
    r = client.get("/v1/delivery", params={"bucket": "year"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "bucket"]


def test_delivery_needs_read_scope(sqlite_store: SqlStore) -> None:
    app = create_app(Settings(tokens=(ApiToken("ro", "read", READ),)), sqlite_store, CollectorRegistry())
    with TestClient(app) as c:
        assert c.get("/v1/delivery").status_code == 401
        assert c.get("/v1/delivery", headers={"Authorization": f"Bearer {READ}"}).status_code == 200


def test_prometheus_gauges_per_team_over_the_last_30_days(sqlite_store: SqlStore) -> None:
    load(sqlite_store)
    registry = CollectorRegistry()
    create_app(Settings(), sqlite_store, registry)
    names = {m.name for m in registry.collect()}
    assert {"aiops_delivery_deployments", "aiops_delivery_change_failure_ratio"} <= names
    m = Metrics(CollectorRegistry())
    # The 30 days before END: the fixture's three weeks and the api deploy d0 just before them
    # (payments, failed, commit 1 h before, verdict after 600 s).
    m.watch_delivery(lambda start, end: team_measures(sqlite_store, start=start, end=end), clock=lambda: END)
    get = m.registry.get_sample_value
    assert get("aiops_delivery_deployments", {"team": "payments"}) == 8
    assert get("aiops_delivery_rollbacks", {"team": "payments"}) == 3
    assert get("aiops_delivery_change_failure_ratio", {"team": "payments"}) == 0.5
    assert get("aiops_delivery_excluded_false_positives", {"team": "payments"}) == 2
    assert get("aiops_delivery_lead_time_seconds", {"team": "find"}) == 7200
    assert get("aiops_delivery_time_to_restore_seconds", {"team": "growth"}) is None  # never restored
    assert get("aiops_delivery_time_to_verdict_seconds", {"team": "growth"}) == 600
    broken = Metrics(CollectorRegistry())
    broken.watch_delivery(lambda start, end: 1 / 0)  # type: ignore[arg-type,return-value]
    assert broken.registry.get_sample_value("aiops_delivery_deployments", {"team": "payments"}) is None


def fixture_db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/aiops.db"
    store = open_store(url)
    load(store)
    store.close()
    return url


def test_cli_report_as_json_csv_and_table_with_a_chart(tmp_path: Path) -> None:
    import io

    url = fixture_db(tmp_path)
    window = ["--from", "2026-11-02T00:00:00Z", "--to", str(END)]
    out, err = io.StringIO(), io.StringIO()
    assert run_report([*window, "--format", "json"], url, (), out, err) == 0, err.getvalue()
    assert json.loads(out.getvalue())["summary"] == SUMMARY
    out = io.StringIO()
    assert run_report([*window, "--format", "csv", "--team", "find"], url, (), out, err) == 0
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("bucket,deployments,rollbacks,")
    assert lines[-1] == "total,3,0,0.142857,high,3,7200.0,10800.0,elite,0.333333,1,0,low,,1,,1800.0"
    out, chart = io.StringIO(), tmp_path / "delivery.svg"
    assert run_report([*window, "--chart", str(chart)], url, (), out, err) == 0
    table = out.getvalue().splitlines()
    assert table[0].split() == [
        "bucket",
        "deploys",
        "rollbk",
        "lead",
        "time",
        "fail",
        "rate",
        "excluded",
        "restore",
        "verdict",
    ]
    assert table[4].split()[:7] == ["total", "11", "3", "3", "h", "45.5", "%"]
    assert "2023" in table[5] and "failure rate low" in table[5]
    assert chart.read_text().startswith("<svg") and chart.read_text().count('fill="#d62728"') == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "forever"], "since: 'forever' is not a duration such as 30d, 12h or 2w"),
        (["--from", "yesterday"], "from: 'yesterday' is not epoch seconds or an RFC 3339 time"),
        (["--chart", "x.png"], "--chart: x.png must be an .svg file (PNG is not supported)"),
        (["--db", "sqlite:////nowhere/aiops.db"], "AIOPS_DB: /nowhere/aiops.db does not exist"),
        (["--db", "postgresql://nobody@127.0.0.1:1/none"], "AIOPS_DB: cannot open 127.0.0.1:1/none: "),
    ],
)
def test_cli_errors_are_one_line_without_a_traceback(tmp_path: Path, args: list[str], message: str) -> None:
    url = fixture_db(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "aiops.cli", "report", "delivery", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "AIOPS_DB": url},
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert done.stderr.startswith(f"aiops report delivery: {message}"), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_cli_report_reads_the_team_mapping_from_the_environment(tmp_path: Path) -> None:
    url = fixture_db(tmp_path)
    window = ["--from", str(W0), "--to", str(END)]
    done = subprocess.run(
        [sys.executable, "-m", "aiops.cli", "report", "delivery", "--team", "find", "--format", "json", *window],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "AIOPS_DB": url, "AIOPS_SERVICE_TEAMS": "web=find,api=payments"},
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    # web now maps to find: d3, d6, d8 join search's three (d11 keeps its own team, growth)
    assert json.loads(done.stdout)["summary"]["deployment_frequency"]["deployments"] == 6


def _cdevents(kind: str, event_id: str, ts: str, subject: dict[str, object], **custom: object) -> dict[str, object]:
    event: dict[str, object] = {
        "context": {"id": event_id, "type": f"dev.cdevents.{kind}.0.2.0", "timestamp": ts},
        "subject": subject,
    }
    if custom:
        event["customData"] = custom
    return event


ARTIFACT = "pkg:oci/cart@sha256:0f?tag=v7"
MERGED = _cdevents(
    "change.merged", "pr-7", "2026-11-03T08:00:00Z", {"id": "pr-7", "content": {"repository": {"id": "org/cart"}}},
    artifactId=ARTIFACT,
)  # fmt: skip
DEPLOYED = _cdevents(
    "service.deployed", "dep-cart-7", "2026-11-03T11:00:00Z",
    {"id": "cart", "content": {"environment": {"id": "prod"}, "artifactId": ARTIFACT}}, team="shop",
)  # fmt: skip


def test_http_ingest_ties_a_merged_change_to_the_deploy_of_its_artifact(client: TestClient) -> None:
    # The deploy arrives before the change: the tie is made when the report is asked for.
    assert client.post("/v1/events", json=DEPLOYED).json()["accepted"] == 1
    assert client.post("/v1/events", json=MERGED).json() == {"accepted": 1, "rejected": [], "skipped": 0}
    report = client.get("/v1/delivery", params={"from": W0, "to": END, "team": "shop"}).json()
    lead = report["summary"]["lead_time"]
    assert (lead["deployments_with_commit_time"], lead["median_seconds"]) == (1, 3 * 3600.0)


def test_replay_stores_merged_changes_for_lead_times(tmp_path: Path) -> None:
    from aiops.delivery import delivery_report
    from aiops.pipeline import build_pipeline
    from aiops.replay import replay_file

    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps(MERGED) + "\n" + json.dumps(DEPLOYED) + "\n")
    store = open_store(f"sqlite:///{tmp_path}/replay.db")
    report = replay_file(events, build_pipeline(Settings(), store))
    assert (report.accepted, report.rejections) == (2, [])
    lead = delivery_report(store, start=W0, end=END)["summary"]["lead_time"]
    assert lead["median_seconds"] == 3 * 3600.0
    store.close()

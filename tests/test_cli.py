"""The aiops command as a user runs it: replay, demo, serve's safety check, gate."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import LiveServer
from fleets import T0, deploy, in_time_order, service_samples

from aiops.api.app import create_app
from aiops.config import Settings
from aiops.gate import run_gate
from aiops.model import DeployEvent
from aiops.store import SqlStore

DEPLOY_AT = T0 + 90 * 60


def aiops(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aiops.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def mixed_events_file(path: Path) -> Path:
    """Native, adapter and CDEvents shapes mixed, with bad lines among them."""
    lines: list[str] = []
    bad_samples = service_samples("api", shift_at=DEPLOY_AT, shift=0.5)
    good_samples = service_samples("web", seed=1)
    for s in in_time_order([*bad_samples, *good_samples]):
        if s.service == "web":  # the web service reports through prometheus-kafka-adapter
            lines.append(
                json.dumps(
                    {
                        "timestamp": s.ts,
                        "value": str(s.value),
                        "name": s.metric,
                        "labels": {"__name__": s.metric, "job": "web"},
                    }
                )
            )
        else:
            lines.append(json.dumps({"service": s.service, "metric": s.metric, "ts": s.ts, "value": s.value}))
    api_deploy = json.dumps({"type": "deploy", "id": "api-v2", "service": "api", "version": "v2", "ts": DEPLOY_AT})
    web_deploy = json.dumps(
        {
            "context": {
                "version": "0.4.1",
                "id": "web-cd-1",
                "source": "/argo",
                "type": "dev.cdevents.service.deployed.0.2.0",
                "timestamp": "2026-11-18T12:00:00Z",
            },
            "subject": {"id": "web", "content": {"environment": {"id": "prod"}, "artifactId": "pkg:oci/web@v9"}},
        }
    )
    half = len(lines) // 2
    lines[half:half] = [
        api_deploy,
        web_deploy,
        "{not json",
        '{"service": "", "metric": "m", "ts": 1, "value": 1}',
        '{"service": "a", "metric": "m", "ts": 1, "value": NaN}',
        "42",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_replay_writes_verdicts_incidents_and_summary(tmp_path: Path) -> None:
    events = mixed_events_file(tmp_path / "events.jsonl")
    result = aiops(
        "replay",
        str(events),
        "--out",
        str(tmp_path / "out.jsonl"),
        "--rejects",
        str(tmp_path / "bad.jsonl"),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    kinds = [o["kind"] for o in out]
    assert kinds[-1] == "summary" and kinds.count("summary") == 1
    verdicts = {o["deployment_id"]: o for o in out if o["kind"] == "verdict"}
    assert verdicts["api-v2"]["verdict"] == "fail"
    assert verdicts["web-cd-1"]["verdict"] == "pass"
    assert all(isinstance(v["decided_at"], float) and v["metrics"] for v in verdicts.values())
    incidents = [o for o in out if o["kind"] == "incident"]
    assert [i["deployment_id"] for i in incidents] == ["api-v2"]
    assert 0 < incidents[0]["confidence"] <= 1
    summary = out[-1]
    assert summary["rejected"] == 4
    assert summary["accepted"] == sum(1 for _ in events.open()) - 4
    reasons = [json.loads(line)["reason"] for line in (tmp_path / "bad.jsonl").read_text().splitlines()]
    assert [r.split(":")[0] for r in reasons] == ["payload", "service", "value", "record"]
    assert "line " in result.stderr and "rejected" in result.stderr


def test_replay_to_stdout_equals_replay_to_file(tmp_path: Path) -> None:
    events = mixed_events_file(tmp_path / "events.jsonl")
    to_stdout = aiops("replay", str(events), "--quiet", cwd=tmp_path)
    aiops("replay", str(events), "--quiet", "--out", str(tmp_path / "o.jsonl"), cwd=tmp_path)
    strip = [json.loads(x) for x in to_stdout.stdout.splitlines()]
    from_file = [json.loads(x) for x in (tmp_path / "o.jsonl").read_text().splitlines()]
    for a in (strip, from_file):
        a[-1].pop("seconds")
    assert strip == from_file


def test_replay_of_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    result = aiops("replay", "nope.jsonl", cwd=tmp_path)
    assert result.returncode == 2 and "no such file" in result.stderr


def test_demo_shows_the_bad_deploy_failing(tmp_path: Path) -> None:
    result = aiops("demo", cwd=tmp_path, env={"AIOPS_DB": f"sqlite:///{tmp_path}/demo.db"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    failing = [line for line in lines if " FAIL " in line]
    assert len(failing) == 1 and "<- the bad one" in failing[0]
    assert "All verdicts match the simulation truth." in result.stdout
    assert "blames no deploy" in result.stdout  # the fleet-wide problem
    assert "curl -s http://127.0.0.1:8080/v1/deployments/" in result.stdout


def test_serve_refuses_a_public_address_without_tokens(tmp_path: Path) -> None:
    result = aiops("serve", "--host", "0.0.0.0", cwd=tmp_path, env={"AIOPS_API_TOKENS": ""})
    assert result.returncode == 2 and "refusing to listen on 0.0.0.0" in result.stderr


def test_bad_configuration_names_the_variable(tmp_path: Path) -> None:
    result = aiops("demo", cwd=tmp_path, env={"AIOPS_API_TOKENS": "broken"})
    assert result.returncode == 2 and "AIOPS_API_TOKENS" in result.stderr


def test_gate_exit_codes_against_a_running_service(sqlite_store: SqlStore) -> None:
    from aiops.model import Effects

    records = in_time_order(
        [
            *service_samples("api", shift_at=DEPLOY_AT, shift=0.5),
            deploy("api", DEPLOY_AT),
            *service_samples("web", seed=2),
            deploy("web", DEPLOY_AT),
        ]
    )
    app = create_app(Settings(), sqlite_store)
    app.state.pipeline.ingest_records(records)
    app.state.pipeline.finish()
    sqlite_store.write(Effects(deploys=[DeployEvent.create("db", "v1", T0, id="db-open")]))
    with LiveServer(app) as server:

        def gate(**kw: object) -> tuple[int, str]:
            out = io.StringIO()
            args = {
                "deployment": None,
                "service": None,
                "version": None,
                "wait": False,
                "timeout": 1.0,
                "url": server.url,
                **kw,
            }
            return run_gate(out=out, **args), out.getvalue()  # type: ignore[arg-type]

        code, text = gate(deployment="api-v2")
        assert code == 1 and "FAIL" in text and "http_request_duration_seconds_p99" in text
        assert gate(service="web", version="v2")[0] == 0
        assert gate(deployment="db-open")[0] == 2
        assert gate(deployment="db-open", wait=True, timeout=0.5)[0] == 2
        assert gate(deployment="unknown")[0] == 3
    assert gate(deployment="api-v2")[0] == 3  # server gone

"""The aiops command as a user runs it: replay, demo, serve's safety check, gate."""

from __future__ import annotations

import io
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
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
    verdicts = {o["deployment_id"]: o["verdict"] for o in strip if o["kind"] == "verdict"}
    assert verdicts == {"api-v2": "fail", "web-cd-1": "pass"}
    assert strip == from_file


def test_replay_of_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    result = aiops("replay", "nope.jsonl", cwd=tmp_path)
    assert result.returncode == 66 and "no such file" in result.stderr


def test_replay_of_a_directory_says_it_is_one(tmp_path: Path) -> None:
    result = aiops("replay", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 66 and "is a directory" in result.stderr and "Traceback" not in result.stderr


def test_replay_reads_standard_input_given_a_dash(tmp_path: Path) -> None:
    events = mixed_events_file(tmp_path / "events.jsonl")
    result = subprocess.run(
        [sys.executable, "-m", "aiops.cli", "replay", "-", "--quiet"],
        cwd=tmp_path,
        input=events.read_text(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    verdicts = {o["deployment_id"]: o["verdict"] for o in map(json.loads, result.stdout.splitlines()) if "verdict" in o}
    assert verdicts == {"api-v2": "fail", "web-cd-1": "pass"}


def test_every_input_line_lands_in_exactly_one_count(tmp_path: Path) -> None:
    events = mixed_events_file(tmp_path / "events.jsonl")
    with events.open("a") as fh:
        fh.write("[]\n\n   \n")
        fh.write('{"timestamp": "2026-11-18T12:00:00Z", "value": "NaN", "name": "m", "labels": {"job": "web"}}\n')
    result = aiops("replay", str(events), "--out", str(tmp_path / "o.jsonl"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "o.jsonl").read_text().splitlines()[-1])
    lines = sum(1 for _ in events.open())
    assert summary["lines"] == lines
    assert summary["empty"] == 3 and summary["skipped"] == 1 and summary["rejected"] == 4
    assert summary["accepted"] + summary["rejected"] + summary["skipped"] + summary["empty"] == lines
    assert summary["late"] == 0


def test_the_human_summary_is_words_not_a_python_dict(tmp_path: Path) -> None:
    events = mixed_events_file(tmp_path / "events.jsonl")
    result = aiops("replay", str(events), "--out", str(tmp_path / "o.jsonl"), cwd=tmp_path)
    summary = [line for line in result.stderr.splitlines() if line.startswith("replay: ")]
    assert len(summary) == 1 and "{" not in summary[0] and "'" not in summary[0]
    assert "2 deployments (1 fail, 1 pass)" in summary[0]


def test_a_file_out_of_time_order_is_reported_and_sort_fixes_it(tmp_path: Path) -> None:
    """Sorted by (service, time) instead of time: the samples of every service but the first come
    long after the engine's looks; replay counts them as late, warns, and --sort gives back the
    verdicts of the file in time order."""
    events = mixed_events_file(tmp_path / "events.jsonl")
    in_order = aiops("replay", str(events), "--quiet", cwd=tmp_path)
    records = [line for line in events.read_text().splitlines()]

    def service_of(line: str) -> str:
        try:
            obj = json.loads(line)
        except ValueError:
            return ""
        if not isinstance(obj, dict):
            return ""
        return str(obj.get("service") or obj.get("labels", {}).get("job") or obj.get("subject", {}).get("id") or "")

    by_service = tmp_path / "by_service.jsonl"
    by_service.write_text("\n".join(sorted(records, key=lambda line: service_of(line) != "web")) + "\n")
    shuffled = aiops("replay", str(by_service), "--out", str(tmp_path / "o.jsonl"), cwd=tmp_path)
    summary = json.loads((tmp_path / "o.jsonl").read_text().splitlines()[-1])
    assert summary["late"] > 100
    assert "not in time order" in shuffled.stderr and "--sort" in shuffled.stderr
    fixed = aiops("replay", str(by_service), "--sort", "--quiet", cwd=tmp_path)
    assert fixed.returncode == 0, fixed.stderr
    expected = [json.loads(x) for x in in_order.stdout.splitlines()]
    got = [json.loads(x) for x in fixed.stdout.splitlines()]
    assert got[-1]["late"] == 0 and got[-1]["sorted"] is True
    verdicts = {o["deployment_id"]: o["verdict"] for o in got if o["kind"] == "verdict"}
    assert verdicts == {"api-v2": "fail", "web-cd-1": "pass"}
    assert got[:-1] == expected[:-1]


def test_sorted_lines_merges_runs_into_event_time_order(tmp_path: Path) -> None:
    """The external sort spills runs to disk; with tiny runs the merge must still give the order of
    an in-memory sort, equal times in their original order, lines without a time first."""
    from aiops.replay import sorted_lines

    rng = random.Random(7)
    stamps = [rng.randrange(50) for _ in range(200)]
    lines = [json.dumps({"service": "a", "metric": "m", "ts": T0 + t, "value": i}) for i, t in enumerate(stamps)]
    lines[10] = "{not json"
    data = ("\n".join(lines) + "\n").encode()
    expected = sorted(
        ((i + 1, line.encode()) for i, line in enumerate(lines)),
        key=lambda item: (-1.0 if item[0] == 11 else stamps[item[0] - 1], item[0]),
    )
    for fan_in in (256, 3):  # 29 runs merged at once, or first into longer runs three at a time
        got = list(sorted_lines(io.BytesIO(data), run_lines=7, fan_in=fan_in))
        assert [(n, line.rstrip(b"\n")) for n, line in got] == expected


@pytest.mark.parametrize(
    ("url", "code", "words"),
    [
        ("mysql://x", 2, "unsupported store URL"),
        ("postgresql://u@127.0.0.1:1/x", 69, "PostgreSQL 127.0.0.1:1/x unreachable"),
        ("sqlite:////nonexistent/dir/a.db", 2, "does not exist"),
    ],
)
def test_a_bad_store_is_one_line_and_its_own_exit_code(tmp_path: Path, url: str, code: int, words: str) -> None:
    for command in (["serve"], ["demo"], ["replay", "--db", url, "-"]):
        result = aiops(*command, cwd=tmp_path, env={"AIOPS_DB": url})
        assert result.returncode == code, (command, result.stderr)
        assert "Traceback" not in result.stderr
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith(f"aiops {command[0]}: ") and words in last
    assert not Path("/nonexistent").exists()


def test_gate_usage_mistakes_have_their_own_exit_code(tmp_path: Path) -> None:
    """3 means "unreachable or unknown": CI must tell a typo in the pipeline from an outage."""
    missing_version = aiops("gate", "--service", "checkout", cwd=tmp_path)
    assert missing_version.returncode == 4 and "--version" in missing_version.stderr
    no_target = aiops("gate", cwd=tmp_path)
    assert no_target.returncode == 4
    bad_config = aiops("gate", "--deployment", "d", cwd=tmp_path, env={"AIOPS_API_TOKENS": "broken"})
    assert bad_config.returncode == 4 and "AIOPS_API_TOKENS" in bad_config.stderr


def test_demo_shows_the_bad_deploy_failing(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("AIOPS_DB", "AIOPS_CONFIG")}
    result = subprocess.run(
        [sys.executable, "-m", "aiops.cli", "demo"], cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    failing = [line for line in lines if " FAIL " in line]
    assert len(failing) == 1 and "<- the bad one" in failing[0]
    assert "All verdicts match the simulation truth." in result.stdout
    assert "blames no deploy" in result.stdout  # the fleet-wide problem
    assert "curl -s http://127.0.0.1:8080/v1/deployments/" in result.stdout
    # Its own store, apart from the aiops.db that `aiops serve` opens by default, and the way to serve it.
    assert (tmp_path / "aiops-demo.db").is_file() and not (tmp_path / "aiops.db").exists()
    assert "AIOPS_DB=sqlite:///aiops-demo.db" in result.stdout and "replaced at each run" in result.stdout
    # Reasons whole (wrapped, never cut mid-phrase), the columns explained.
    assert "not blamed on deploy v1.1.0" in " ".join(line.strip() for line in lines)
    assert any(line.strip().startswith("score: 0-100") for line in lines)
    assert "raw" in result.stdout and "net" in result.stdout and "control group" in result.stdout


def test_demo_prints_what_the_store_holds(tmp_path: Path) -> None:
    """Run twice on one store with an incident acknowledged in between: the second run shows it
    acknowledged, as the API does, not open as the engine first saw it."""
    from aiops.model import IncidentStatus
    from aiops.store import IncidentFilter, open_store

    url = f"sqlite:///{tmp_path}/shared.db"
    assert aiops("demo", cwd=tmp_path, env={"AIOPS_DB": url}).returncode == 0
    store = open_store(url)
    first = store.list_incidents(IncidentFilter()).items[0]
    store.set_incident_status(first.id, IncidentStatus.ACKNOWLEDGED, at=T0)
    store.close()
    again = aiops("demo", cwd=tmp_path, env={"AIOPS_DB": url})
    assert again.returncode == 0, again.stderr
    (line,) = [line for line in again.stdout.splitlines() if first.id in line]
    assert "acknowledged" in line
    assert "(1 acknowledged, 1 open)" in again.stdout


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


def test_serve_says_where_it_listens_and_logs_each_request(tmp_path: Path) -> None:
    import httpx
    from conftest import free_port

    port = free_port()
    env = {**os.environ, "AIOPS_DB": f"sqlite:///{tmp_path}/serve.db", "AIOPS_API_TOKENS": ""}
    proc = subprocess.Popen(
        [sys.executable, "-m", "aiops.cli", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        first = ""
        while "listening on" not in first:
            first = proc.stderr.readline()
            assert first, "serve exited before saying where it listens"
        assert f"http://127.0.0.1:{port}" in first
        for _ in range(100):
            try:
                assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
                break
            except httpx.TransportError:
                time.sleep(0.1)
    finally:
        proc.terminate()
        access_log = proc.communicate(timeout=30)[0]
    assert '"GET /healthz HTTP/1.1" 200' in access_log


def test_file_errors_are_one_line_and_exit_66_in_every_command(tmp_path: Path) -> None:
    kafka = {"AIOPS_KAFKA_BOOTSTRAP": "127.0.0.1:1"}  # never reached: the file is checked first
    for command, env in (
        (["produce", "missing.jsonl"], kafka),
        (["score", str(tmp_path)], {}),
        (["score", "missing.csv"], {}),
        (["evaluate", "nab", str(tmp_path / "no-corpus")], {}),
        (["replay", str(tmp_path / "events.jsonl"), "--out", str(tmp_path / "no" / "out.jsonl")], {}),
    ):
        (tmp_path / "events.jsonl").write_text("")
        result = aiops(*command, cwd=tmp_path, env=env)
        assert result.returncode == 66, (command, result.stderr)
        assert "Traceback" not in result.stderr
        assert result.stderr.strip().splitlines()[-1].startswith(f"aiops {command[0]}: "), result.stderr

"""Team and commit time on every deploy shape, CDEvents change.merged, and the service-team mapping."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aiops.config import ConfigError, Settings
from aiops.model import ChangeEvent, DeployEvent
from aiops.parsing import parse_payload, parse_value
from aiops.store import SqlStore

TS = 1795000000


def one(obj: Any) -> DeployEvent:
    result = parse_value(obj)
    assert not result.rejections, result.rejections
    (record,) = result.records
    assert isinstance(record, DeployEvent)
    return record


def reason(obj: Any) -> str:
    result = parse_value(obj)
    assert not result.records
    (rejection,) = result.rejections
    return rejection.reason


def native(**extra: Any) -> dict[str, Any]:
    return {"type": "deploy", "service": "checkout", "version": "v2", "ts": TS, **extra}


def cdevent(kind: str = "service.deployed", **custom: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "context": {"id": "ev-1", "type": f"dev.cdevents.{kind}.0.2.0", "timestamp": "2026-11-18T11:06:40Z"},
        "subject": {
            "id": "checkout",
            "content": {"environment": {"id": "prod"}, "artifactId": "pkg:oci/checkout@sha256:ab?tag=v2"},
        },
    }
    if custom:
        event["customData"] = custom
    return event


def test_native_deploy_carries_team_and_commit_time_in_either_time_form() -> None:
    d = one(native(team="payments", commit_ts=TS - 3600))
    assert (d.team, d.commit_ts) == ("payments", TS - 3600)
    assert one(native(commit_ts="2026-11-18T10:06:40Z")).commit_ts == TS - 3600
    plain = one(native())
    assert (plain.team, plain.commit_ts) == ("", None)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"team": 7}, "team: must be a non-empty string"),
        ({"team": "  "}, "team: must be a non-empty string"),
        ({"commit_ts": "yesterday"}, "commit_ts: 'yesterday' is not epoch seconds or an RFC 3339 time"),
        ({"commit_ts": 1795000000000}, "commit_ts: 1.795e+12 is outside epoch seconds (milliseconds?)"),
        ({"commit_ts": TS + 60}, "commit_ts: 1795000060 is after the deploy's own time (1795000000)"),
    ],
)
def test_bad_team_or_commit_time_is_rejected_naming_the_field(extra: dict[str, Any], expected: str) -> None:
    assert reason(native(**extra)) == expected


def test_cdevents_deploy_reads_team_and_commit_time_from_custom_data_and_keeps_its_artifact() -> None:
    d = one(cdevent(team="payments", commit_ts=TS - 600))
    assert (d.team, d.commit_ts, d.version) == ("payments", TS - 600, "v2")
    assert d.artifact == "pkg:oci/checkout@sha256:ab?tag=v2"
    assert reason(cdevent(commit_ts="later")).startswith("customData.commit_ts: 'later'")
    bad = cdevent()
    bad["customData"] = ["team"]
    assert reason(bad) == "customData: expected an object, got an array"


def test_cdevents_change_merged_is_a_change_tied_by_artifact_not_a_deploy() -> None:
    event = cdevent("change.merged", artifactId="pkg:oci/checkout@sha256:ab?tag=v2")
    event["subject"] = {"id": "pr-42", "content": {"repository": {"id": "org/checkout"}}}
    result = parse_payload(json.dumps(event))
    assert result.records == [] and result.rejections == []
    assert result.changes == [ChangeEvent("ev-1", "pkg:oci/checkout@sha256:ab?tag=v2", TS, "org/checkout")]
    event["customData"] = {"artifactId": "checkout:v2"}
    assert reason(event) == "customData.artifactId: must be a package URL (pkg:...)"
    del event["customData"]
    assert parse_value(event).skipped == 1  # nothing to tie it to: skipped, like a pending GitHub status


def test_github_deployment_status_takes_the_deployment_creation_as_commit_time() -> None:
    payload = {
        "deployment_status": {"state": "success", "created_at": "2026-11-18T11:06:40Z", "environment": "production"},
        "deployment": {"id": 9, "sha": "abc123", "created_at": "2026-11-18T10:06:40Z", "payload": {"team": "web"}},
        "repository": {"name": "checkout"},
    }
    d = one(payload)
    assert (d.id, d.ts, d.commit_ts, d.team) == ("gh-9", TS, TS - 3600, "web")


def test_team_and_commit_time_survive_the_store(store: SqlStore) -> None:
    from aiops.model import Effects

    d = one(native(team="payments", commit_ts=TS - 60))
    store.write(Effects(deploys=[d]))
    row = store.get_deployment(d.id)
    assert row is not None and row.deploy == d


def test_service_teams_from_the_variable_and_a_file(tmp_path: Path) -> None:
    mapping = tmp_path / "teams"
    mapping.write_text("# service=team\ncheckout = payments\ncart=shop\n")
    env = {"AIOPS_SERVICE_TEAMS": "cart=payments,search=find", "AIOPS_SERVICE_TEAMS_FILE": str(mapping)}
    s = Settings.from_env(env)
    assert s.service_teams == (("cart", "payments"), ("checkout", "payments"), ("search", "find"))
    with pytest.raises(ConfigError, match=r"^AIOPS_SERVICE_TEAMS: 'checkout' must be service=team$"):
        Settings.from_env({"AIOPS_SERVICE_TEAMS": "checkout"})
    mapping.write_text("checkout payments\n")
    with pytest.raises(ConfigError, match=r"AIOPS_SERVICE_TEAMS_FILE: .*teams:1: 'checkout payments' must be"):
        Settings.from_env({"AIOPS_SERVICE_TEAMS_FILE": str(mapping)})


def test_a_consumer_batch_keeps_merged_changes_apart_for_the_store() -> None:
    from types import SimpleNamespace

    from aiops.consumers.runner import ConsumerRunner
    from aiops.pipeline import build_pipeline

    merged = cdevent("change.merged", artifactId="pkg:oci/checkout@sha256:ab")
    deployed = cdevent()
    settings = Settings(kafka_bootstrap="127.0.0.1:9")
    runner = ConsumerRunner(settings, build_pipeline(settings, None))
    records: list[Any] = []
    messages = [SimpleNamespace(value=json.dumps(e).encode(), offset=i) for i, e in enumerate((merged, deployed))]
    live, rejected, skipped = runner._read("tp", messages, records, None, live_from=0, analyse_from=0.0)
    assert (live, rejected, skipped) == (2, 0, 0)
    assert [type(r).__name__ for r in records] == ["DeployEvent"]  # the engine never sees the change
    assert [c.artifact for c in runner._changes] == ["pkg:oci/checkout@sha256:ab"]


def test_processes_starting_together_each_set_the_team_mapping(store: SqlStore) -> None:
    import threading

    from conftest import _fresh_postgres, need_env

    from aiops.store import open_store

    if store._dialect != "postgres":  # SQLite serialises writers itself
        pytest.skip("the race is PostgreSQL's")
    url = _fresh_postgres(need_env("AIOPS_TEST_POSTGRES"))
    stores = [open_store(url) for _ in range(4)]
    barrier, errors = threading.Barrier(4), []

    def start(s: SqlStore) -> None:
        barrier.wait()
        try:
            s.set_service_teams({f"svc-{i}": "payments" for i in range(200)})
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for s in stores:
        s.close()

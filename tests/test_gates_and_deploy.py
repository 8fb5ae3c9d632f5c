"""The shipped release-gate and dashboard artefacts, checked against the real app."""

from __future__ import annotations

import io
import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from conftest import LiveServer
from fastapi.testclient import TestClient
from fleets import T0, deploy, in_time_order, service_samples

from aiops.api.app import create_app
from aiops.cli import _parser
from aiops.config import ApiToken, Settings
from aiops.gate import run_gate
from aiops.metrics import Metrics
from aiops.store import SqlStore

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
DEPLOY_AT = T0 + 90 * 60
READ = "read-token-0123456789"


@pytest.fixture
def app_with_verdicts(sqlite_store: SqlStore) -> Any:
    tokens = (ApiToken("gate", "read", READ), ApiToken("ops", "write", "write-token-0123456789"))
    app = create_app(Settings(tokens=tokens), sqlite_store)
    records = in_time_order(
        [
            *service_samples("checkout", shift_at=DEPLOY_AT, shift=0.5),
            deploy("checkout", DEPLOY_AT, "2.3.1"),
            *service_samples("web", seed=2),
            deploy("web", DEPLOY_AT, "9.0.0"),
            *service_samples("db", seed=3),
            *service_samples("auth", seed=4),
        ]
    )
    app.state.pipeline.ingest_records(records)
    app.state.pipeline.finish()
    return app


@pytest.fixture
def client(app_with_verdicts: Any) -> Iterator[TestClient]:
    with TestClient(app_with_verdicts) as c:
        yield c


def condition(expr: str, result: dict[str, Any]) -> bool:
    """The `result.field == "value"` conditions the template uses, evaluated like Argo's expr."""
    m = re.fullmatch(r'result\.(\w+) == "(\w+)"', expr.strip())
    assert m, f"unsupported condition {expr!r}"
    return bool(result[m.group(1)] == m.group(2))


def test_argo_analysis_template_gates_on_the_verdict(client: TestClient) -> None:
    template = yaml.safe_load((DEPLOY / "argo" / "analysis-template.yaml").read_text())
    assert template["kind"] == "AnalysisTemplate"
    metric = template["spec"]["metrics"][0]
    web = metric["provider"]["web"]
    assert web["jsonPath"] == "{$}"
    for dep_id, expect in (("checkout-2.3.1", "fail"), ("web-9.0.0", "pass")):
        url = web["url"].replace("{{args.aiops-url}}", "http://aiops").replace("{{args.deployment-id}}", dep_id)
        headers = {h["key"]: h["value"].replace("{{args.aiops-token}}", READ) for h in web["headers"]}
        result = client.get(urlsplit(url).path, headers=headers).json()
        assert condition(metric["successCondition"], result) is (expect == "pass")
        assert condition(metric["failureCondition"], result) is (expect == "fail")


def test_flagger_webhook_proceeds_on_pass_and_halts_on_fail(client: TestClient) -> None:
    canary = yaml.safe_load((DEPLOY / "flagger" / "canary-webhook.yaml").read_text())
    hook = canary["spec"]["analysis"]["webhooks"][0]
    url = urlsplit(hook["url"].replace("REPLACE_WITH_READ_TOKEN", READ))
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    payload = {
        "name": canary["metadata"]["name"],
        "namespace": canary["metadata"]["namespace"],
        "phase": "Progressing",
        "metadata": hook["metadata"],
    }
    halted = client.post(url.path, params=query, json=payload)
    assert halted.status_code == 409 and halted.json()["verdict"] == "fail"
    payload["metadata"] = {"service": "web", "version": "9.0.0"}
    assert client.post(url.path, params=query, json=payload).status_code == 200
    assert client.post(url.path, json=payload).status_code == 401  # no token, no answer
    payload["metadata"] = {"service": "nope"}
    assert client.post(url.path, params=query, json=payload).status_code == 404


def test_github_actions_step_runs_the_gate(app_with_verdicts: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    workflow = yaml.safe_load((DEPLOY / "github" / "release-gate.yml").read_text())
    step = next(s for s in workflow["jobs"]["gate"]["steps"] if "aiops gate" in s.get("run", ""))
    values = {"github.event.repository.name": "web", "github.sha": "9.0.0"}
    command = re.sub(r"\$\{\{\s*([\w.]+)\s*\}\}", lambda m: values[m.group(1)], step["run"])
    argv = shlex.split(command)
    assert argv[:2] == ["aiops", "gate"]
    args = _parser().parse_args(argv[1:])
    monkeypatch.setenv("AIOPS_TOKEN", READ)
    with LiveServer(app_with_verdicts) as server:
        out = io.StringIO()
        code = run_gate(
            deployment=args.deployment,
            service=args.service,
            version=args.version,
            wait=args.wait,
            timeout=5,
            url=server.url,
            out=out,
        )
        assert code == 0, out.getvalue()
        assert set(step["env"]) == {"AIOPS_URL", "AIOPS_TOKEN"}


def test_incident_acknowledge_and_resolve(client: TestClient) -> None:
    write = {"Authorization": "Bearer write-token-0123456789"}
    read = {"Authorization": f"Bearer {READ}"}
    (incident,) = client.get("/v1/incidents", headers=read).json()["items"]
    assert client.post(f"/v1/incidents/{incident['id']}/acknowledge", headers=read).status_code == 403
    acked = client.post(f"/v1/incidents/{incident['id']}/acknowledge", headers=write).json()
    assert acked["status"] == "acknowledged"
    done = client.post(f"/v1/incidents/{incident['id']}/resolve", headers=write).json()
    assert done["status"] == "resolved" and done["resolved_at"] is not None
    assert client.post(f"/v1/incidents/{incident['id']}/acknowledge", headers=write).status_code == 409
    assert client.post("/v1/incidents/missing/resolve", headers=write).status_code == 404


def test_grafana_dashboard_reads_real_routes_and_metrics(app_with_verdicts: Any) -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "aiops-dashboard.json").read_text())
    routes = set(app_with_verdicts.openapi()["paths"])
    registry_names = {m.name for m in Metrics().registry.collect()} | {"aiops_incidents_open"}
    rules = yaml.safe_load((DEPLOY / "prometheus" / "aiops.rules.yml").read_text())
    recorded = {r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r}
    seen_api = seen_prom = 0
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            if "url" in target:
                path = urlsplit(target["url"].replace("${aiops_url}", "http://x")).path
                assert path in routes, path
                seen_api += 1
            if "expr" in target:
                names = set(re.findall(r"\b(aiops[:_][a-z0-9_:]+)", target["expr"]))
                for name in names:
                    base = re.sub(r"_(bucket|count|sum|total)$", "", name)
                    assert name in recorded or base in registry_names, name
                seen_prom += 1
    assert seen_api >= 2 and seen_prom >= 4


def test_kubernetes_manifest_matches_the_app_and_the_configuration(app_with_verdicts: Any) -> None:
    from aiops.config import Settings as S

    docs = list(yaml.safe_load_all((DEPLOY / "kubernetes" / "aiops.yaml").read_text()))
    paths = set(app_with_verdicts.openapi()["paths"])
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    api = deployments["aiops-api"]["spec"]["template"]["spec"]["containers"][0]
    assert (
        api["args"][0] == "serve"
        and {api["readinessProbe"]["httpGet"]["path"], api["livenessProbe"]["httpGet"]["path"]} <= paths
    )
    # A public bind needs tokens: the manifest must configure them, or serve refuses to start.
    assert any(e["name"] in ("AIOPS_API_TOKENS", "AIOPS_API_TOKENS_FILE") for e in api["env"])
    consumer = deployments["aiops-consumer"]["spec"]["template"]["spec"]["containers"][0]
    assert consumer["args"] == ["consume"]
    env = {e["name"]: e.get("value", "set-from-secret") for e in consumer["env"]}
    settings = S.from_env(env)  # every variable the manifest sets is one the service reads, well-formed
    assert settings.kafka_bootstrap and settings.metrics_port == 9464
    known = {"AIOPS_DB", "AIOPS_KAFKA_BOOTSTRAP", "AIOPS_METRICS_PORT", "AIOPS_API_TOKENS_FILE"}
    assert set(env) | {e["name"] for e in api["env"]} <= known

"""The HTTP API against both stores: ingest, verdicts, incidents, pagination, auth, limits."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from fleets import T0, deploy, in_time_order, service_samples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiops.api.app import create_app
from aiops.config import ApiToken, Settings
from aiops.model import DeployEvent, Effects, Incident, MetricSample
from aiops.store import SqlStore, open_store

DEPLOY_AT = T0 + 90 * 60
READ = "r" * 20
WRITE = "w" * 20


def as_json(r: MetricSample | DeployEvent) -> dict[str, object]:
    if isinstance(r, DeployEvent):
        return {"type": r.kind.value, "id": r.id, "service": r.service, "version": r.version, "ts": r.ts}
    return {"service": r.service, "metric": r.metric, "ts": r.ts, "value": r.value}


@pytest.fixture
def client(store: SqlStore) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(), store)) as c:
        yield c


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    assert client.get("/readyz").json()["status"] == "ready"


def test_ingest_then_verdict_of_a_bad_deploy(client: TestClient) -> None:
    records = in_time_order([*service_samples("api", shift_at=DEPLOY_AT, shift=0.5), deploy("api", DEPLOY_AT)])
    body = "\n".join(json.dumps(as_json(r)) for r in records)
    reply = client.post("/v1/events", content=body, headers={"content-type": "application/x-ndjson"})
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"accepted": len(records), "rejected": [], "skipped": 0}
    verdict = client.get("/v1/deployments/api-v2/verdict").json()
    assert verdict["verdict"] == "fail" and 0 <= verdict["score"] <= 40
    assert verdict["metrics"][0]["metric"] == "http_request_duration_seconds_p99"
    assert verdict["metrics"][0]["change"] > 0.3
    by_version = client.get("/v1/verdict", params={"service": "api", "version": "v2"}).json()
    assert by_version["deployment_id"] == "api-v2"
    incidents = client.get("/v1/incidents", params={"deployment_id": "api-v2"}).json()["items"]
    assert len(incidents) == 1 and incidents[0]["confidence"] > 0.5
    one = client.get(f"/v1/incidents/{incidents[0]['id']}").json()
    assert one["evidence"][0]["metric"] == "http_request_duration_seconds_p99"


def test_pending_verdict_while_window_is_open(client: TestClient) -> None:
    samples = [s for s in service_samples("api") if s.ts < DEPLOY_AT + 120]
    records = in_time_order([*samples, deploy("api", DEPLOY_AT)])
    assert client.post("/v1/events", json=[as_json(r) for r in records]).status_code == 200
    verdict = client.get("/v1/deployments/api-v2/verdict").json()
    assert verdict["verdict"] == "pending" and verdict["decided_at"] is None
    item = client.get("/v1/deployments").json()["items"][0]
    assert {k: item[k] for k in ("id", "service", "version", "verdict")} == {
        "id": "api-v2",
        "service": "api",
        "version": "v2",
        "verdict": "pending",
    }


def test_mixed_batch_keeps_good_records_and_answers_422(client: TestClient) -> None:
    batch = [
        {"service": "a", "metric": "m", "ts": 1, "value": 1},
        {"service": "", "metric": "m", "ts": 1, "value": 1},
        {"type": "deploy", "service": "a", "version": "v1", "ts": 2, "id": "d-1"},
    ]
    reply = client.post("/v1/events", json=batch)
    assert reply.status_code == 422
    assert reply.json()["accepted"] == 2
    assert reply.json()["rejected"] == [{"index": 1, "reason": "service: must be a non-empty string"}]
    assert client.get("/v1/deployments/d-1").status_code == 200


def test_invalid_json_body_is_422_with_reason(client: TestClient) -> None:
    reply = client.post("/v1/events", content=b'{"service": ', headers={"content-type": "application/json"})
    assert reply.status_code == 422
    assert reply.json()["rejected"][0]["reason"].startswith("payload: invalid JSON")


def test_oversized_body_is_413(store: SqlStore) -> None:
    with TestClient(create_app(Settings(max_body_bytes=100), store)) as c:
        reply = c.post("/v1/events", content=b"[" + b" " * 200 + b"]", headers={"content-type": "application/json"})
        assert reply.status_code == 413


def test_unknown_deployment_is_404(client: TestClient) -> None:
    assert client.get("/v1/deployments/nope/verdict").status_code == 404
    assert client.get("/v1/incidents/nope").status_code == 404


def test_list_validation(client: TestClient) -> None:
    assert client.get("/v1/incidents", params={"limit": 5000}).status_code == 422
    assert client.get("/v1/incidents", params={"cursor": "not-a-cursor"}).status_code == 400
    assert client.get("/v1/incidents", params={"status": "sleeping"}).status_code == 422


def test_incident_pagination_through_the_api(client: TestClient, store: SqlStore) -> None:
    store.write(Effects(incidents=[Incident(f"inc-{i:03d}", "api", 1000.0 + i, None, 0.5, ("m",)) for i in range(12)]))
    ids, cursor = [], None
    while True:
        params: dict[str, object] = {"limit": 5}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/v1/incidents", params=params).json()
        ids += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert ids == [f"inc-{i:03d}" for i in reversed(range(12))]


def test_metrics_endpoint_counts_ingest(client: TestClient) -> None:
    client.post("/v1/events", json={"service": "a", "metric": "m", "ts": 1, "value": 1})
    text = client.get("/metrics").text
    assert 'aiops_ingest_records_total{outcome="accepted",source="http"} 1.0' in text
    assert "aiops_http_request_duration_seconds_bucket" in text


@pytest.fixture
def secured(sqlite_store: SqlStore) -> Iterator[TestClient]:
    tokens = (ApiToken("dash", "read", READ), ApiToken("ci", "write", WRITE))
    with TestClient(create_app(Settings(tokens=tokens), sqlite_store)) as c:
        yield c


def test_auth_rules(secured: TestClient) -> None:
    event = {"service": "a", "metric": "m", "ts": 1, "value": 1}
    assert secured.get("/v1/incidents").status_code == 401
    assert secured.get("/v1/incidents", headers={"Authorization": "Bearer wrong-wrong-wrong"}).status_code == 401
    assert secured.get("/v1/incidents", headers={"Authorization": f"Bearer {READ}"}).status_code == 200
    assert secured.post("/v1/events", json=event, headers={"Authorization": f"Bearer {READ}"}).status_code == 403
    assert secured.post("/v1/events", json=event, headers={"Authorization": f"Bearer {WRITE}"}).status_code == 200
    assert secured.get("/v1/incidents", headers={"Authorization": f"Bearer {WRITE}"}).status_code == 200
    for open_path in ("/healthz", "/readyz", "/metrics"):
        assert secured.get(open_path).status_code == 200


def test_false_positive_feedback_raises_the_bar_and_can_be_undone(client: TestClient) -> None:
    records = in_time_order([*service_samples("api", shift_at=DEPLOY_AT, shift=0.15), deploy("api", DEPLOY_AT)])
    client.post("/v1/events", json=[as_json(r) for r in records])
    verdict = client.get("/v1/deployments/api-v2/verdict").json()
    assert verdict["verdict"] == "fail"
    fb = client.post("/v1/deployments/api-v2/feedback", json={"label": "false_positive", "note": "cache warm-up"})
    assert fb.status_code == 201, fb.text
    body = fb.json()
    assert body["metrics"] == ["http_request_duration_seconds_p99"] and body["changes"][body["metrics"][0]] > 0.1
    (cal,) = client.get("/v1/calibration").json()
    assert cal["service"] == "api" and cal["min_change"] > verdict["metrics"][0]["change"]
    assert "false positive" in cal["reason"]
    # The same change after the next deploy no longer fails it.
    later = DEPLOY_AT + 4 * 3600
    again = in_time_order(
        [
            *service_samples(
                "api", start=DEPLOY_AT + 3600, minutes=240, shift_at=later, shift=0.15, level=0.2 * 1.15, seed=5
            ),
            deploy("api", later, "v3"),
        ]
    )
    client.post("/v1/events", json=[as_json(r) for r in again])
    assert client.get("/v1/deployments/api-v3/verdict").json()["verdict"] == "pass"
    assert client.get("/v1/feedback").json()[0]["id"] == body["id"]
    assert client.delete(f"/v1/feedback/{body['id']}").status_code == 204
    assert client.get("/v1/calibration").json() == []
    assert client.delete(f"/v1/feedback/{body['id']}").status_code == 404


def test_feedback_validation(client: TestClient) -> None:
    assert client.post("/v1/deployments/nope/feedback", json={"label": "false_positive"}).status_code == 404
    records = in_time_order([*service_samples("api", shift_at=DEPLOY_AT, shift=0.5), deploy("api", DEPLOY_AT)])
    client.post("/v1/events", json=[as_json(r) for r in records])
    assert client.post("/v1/deployments/api-v2/feedback", json={"label": "maybe"}).status_code == 422
    bad_metric = client.post("/v1/deployments/api-v2/feedback", json={"label": "true_positive", "metrics": ["x"]})
    assert bad_metric.status_code == 422 and bad_metric.json()["detail"].startswith("metrics:")
    (incident,) = client.get("/v1/incidents").json()["items"]
    tp = client.post(f"/v1/incidents/{incident['id']}/feedback", json={"label": "true_positive"})
    assert tp.status_code == 201 and tp.json()["target_kind"] == "incident"
    assert client.get("/v1/calibration").json() == []  # true positives alone change nothing


def test_incident_plot_is_an_svg_of_its_metrics_around_the_deploy(client: TestClient) -> None:
    records = in_time_order([*service_samples("api", shift_at=DEPLOY_AT, shift=0.5), deploy("api", DEPLOY_AT)])
    client.post("/v1/events", json=[as_json(r) for r in records])
    (incident,) = client.get("/v1/incidents").json()["items"]
    reply = client.get(f"/v1/incidents/{incident['id']}/plot.svg")
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("image/svg+xml")
    svg = reply.text
    assert svg.startswith("<svg") and "http_request_duration_seconds_p99" in svg and ">deploy<" in svg
    # One metric: what it did, and what it was expected to do without the deploy.
    assert svg.count("<polyline") == 2 and "expected" in svg
    assert client.get("/v1/incidents/nope/plot.svg").status_code == 404


def test_the_plot_title_wraps_the_whole_summary_never_cuts_it() -> None:
    """A title cut at 110 characters once read "not blamed on deploy v1" for v1.1.0."""
    import re

    from aiops.api.plot import incident_svg

    summary = (
        "http_request_duration_seconds_p99 of catalog moved together with services that did not deploy: "
        "a fleet-wide problem, not blamed on deploy v1.1.0"
    )
    incident = Incident("inc-1", "catalog", T0, None, 0.5, ("latency",), summary=summary)
    svg = incident_svg(incident, None)
    title = " ".join(re.findall(r"<tspan[^>]*>([^<]*)</tspan>", svg))
    assert title == f"catalog: {summary}"


def test_docs_pages_load_every_asset_from_the_service_itself(sqlite_store: SqlStore) -> None:
    """/docs was blank offline: Swagger UI came from a CDN. Every script, style and icon the pages
    name must be a local path that the app serves (Swagger UI 5: FastAPI writes OpenAPI 3.1)."""
    import re

    with TestClient(create_app(Settings(), sqlite_store)) as client:
        for page in ("/docs", "/redoc"):
            html = client.get(page)
            assert html.status_code == 200 and "text/html" in html.headers["content-type"]
            urls = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", html.text)
            assets = [u for u in urls if not u.endswith(("openapi.json", "oauth2-redirect"))]
            assert assets, html.text
            for url in assets:
                assert url.startswith("/"), f"{page} loads {url} from elsewhere"
                reply = client.get(url)
                assert reply.status_code == 200 and len(reply.content) > 1000, url
        bundle = client.get("/docs-assets/swagger-ui-bundle.js").text
        assert re.search(r'"5\.\d+\.\d+"', bundle[:2_000_000])


def test_the_incident_schema_names_the_clock_of_each_time(sqlite_store: SqlStore) -> None:
    """opened_at is event time, a person's acknowledge is wall-clock time: the spec says which is which."""
    with TestClient(create_app(Settings(), sqlite_store)) as client:
        fields = client.get("/openapi.json").json()["components"]["schemas"]["IncidentOut"]["properties"]
    assert "event time" in fields["opened_at"]["description"]
    for name in ("updated_at", "resolved_at"):
        assert "event time" in fields[name]["description"] and "wall-clock" in fields[name]["description"]


def test_a_body_of_another_content_type_gets_415_and_none_is_read_as_json(sqlite_store: SqlStore) -> None:
    event = json.dumps({"service": "a", "metric": "m", "ts": T0, "value": 1.0}).encode()
    with TestClient(create_app(Settings(), sqlite_store)) as client:
        for wrong in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
            reply = client.post("/v1/events", content=event, headers={"content-type": wrong})
            assert reply.status_code == 415 and "application/x-ndjson" in reply.json()["detail"], wrong
        # httpx sends no Content-Type for raw bytes unless told: what a bare client does.
        bare = client.post("/v1/events", content=event)
        assert "content-type" not in bare.request.headers
        assert bare.status_code == 200 and bare.json()["accepted"] == 1
        typed = client.post("/v1/events", content=event, headers={"content-type": "application/cloudevents+json"})
        assert typed.status_code == 200


_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12)
_good_line = st.builds(
    lambda service, metric, ts, value: json.dumps({"service": service, "metric": metric, "ts": ts, "value": value}),
    _names,
    _names,
    st.floats(min_value=T0, max_value=T0 + 86_400),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
)
_bad_line = st.one_of(
    st.text(min_size=1, max_size=40).filter(
        lambda t: "\n" not in t and "\r" not in t and t.strip() != "" and not t.lstrip().startswith("[")
    ),
    st.builds(lambda v: json.dumps({"service": "", "metric": "m", "ts": T0, "value": v}), st.floats(-1e6, 1e6)),
    st.builds(lambda t: json.dumps({"service": "a", "metric": "m", "ts": t, "value": 1}), st.text("xyz!?", max_size=9)),
    st.just('{"service": "a", "metric": "m", "ts": 1795000000, "value": NaN}'),
    st.integers().map(str),
)


@given(st.lists(st.booleans(), max_size=30), st.data())
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_ndjson_ingest_accounts_for_every_line(kinds: list[bool], data: st.DataObject) -> None:
    """Schemathesis does not fuzz application/x-ndjson: any mix of good and bad lines (and blank
    ones) gets 200 or 422, every good line accepted, every other line rejected at its own index."""
    lines = [data.draw(_good_line if good else _bad_line) for good in kinds]
    blank = data.draw(st.lists(st.integers(0, len(lines)), max_size=3))
    for at in sorted(blank, reverse=True):
        lines.insert(at, "  ")
    body = "\n".join(lines)
    app = create_app(Settings(), open_store("sqlite://:memory:"))
    with TestClient(app) as client:
        reply = client.post("/v1/events", content=body.encode(), headers={"content-type": "application/x-ndjson"})
    assert reply.status_code in (200, 422), reply.text
    answer = reply.json()
    good_at = {i for i, line in enumerate(lines) if line.strip() and _is_good(line)}
    assert answer["accepted"] == len(good_at)
    rejected_at = sorted(r["index"] for r in answer["rejected"])
    assert rejected_at == sorted(i for i, line in enumerate(lines) if line.strip() and i not in good_at)
    assert reply.status_code == (422 if rejected_at else 200)


def _is_good(line: str) -> bool:
    """What the generator meant as a good sample (the parser must agree)."""
    try:
        obj = json.loads(line)
    except ValueError:
        return False
    return isinstance(obj, dict) and obj.get("service") not in (None, "") and isinstance(obj.get("ts"), float)

"""Property-based API fuzzing from the OpenAPI spec: no input may make the server answer 5xx."""

from __future__ import annotations

import json

import schemathesis
from hypothesis import HealthCheck, settings

from aiops.api.app import create_app
from aiops.config import Settings
from aiops.model import DeployEvent, Effects, Incident
from aiops.store import open_store


def _app() -> object:
    store = open_store("sqlite://:memory:")
    store.write(
        Effects(
            deploys=[DeployEvent.create("api", "v1", 1795000000.0, id="d-1")],
            incidents=[Incident("inc-1", "api", 1795000100.0, "d-1", 0.9, ("latency",))],
        )
    )
    return create_app(Settings(max_body_bytes=64 * 1024), store)


@schemathesis.serializer("application/x-ndjson")
def _ndjson(ctx: object, value: object) -> bytes:
    """Without a serializer schemathesis skips the NDJSON body of POST /v1/events; its schema is a
    string (the lines), sent as it is."""
    return value.encode() if isinstance(value, str) else json.dumps(value).encode()


schema = schemathesis.openapi.from_asgi("/openapi.json", _app())


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: schemathesis.Case) -> None:
    response = case.call()
    assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:300])

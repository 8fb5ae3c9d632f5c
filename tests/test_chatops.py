"""The Slack slash command: Slack's signature and timestamp window, the commands, who may ack."""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from console_fleet import replay_bad_deploy
from fastapi.testclient import TestClient

from aiops.api.app import create_app
from aiops.api.routes.chatops import ChatOpsSettings
from aiops.config import Settings
from aiops.notify.signing import slack_signature
from aiops.store import SqlStore

SIGNING = "8f742231b10e8888abcd99yyyzzz85a5"


@pytest.fixture
def incident_id(sqlite_store: SqlStore) -> str:
    return replay_bad_deploy(sqlite_store)


@pytest.fixture
def client(sqlite_store: SqlStore, incident_id: str) -> Iterator[TestClient]:
    chat = ChatOpsSettings(SIGNING, {"UWRITER": "write", "UREADER": "read"}, "https://aiops.example")
    with TestClient(create_app(Settings(), sqlite_store, chat=chat)) as c:
        yield c


def slash(
    client: TestClient,
    text: str,
    user: str = "UWRITER",
    *,
    ts: float | None = None,
    secret: str = SIGNING,
) -> tuple[int, dict[str, str]]:
    body = urlencode({"command": "/aiops", "text": text, "user_id": user, "team_id": "T1"}).encode()
    stamp = str(int(time.time() if ts is None else ts))
    reply = client.post(
        "/v1/chatops/slack",
        content=body,
        headers={
            "content-type": "application/x-www-form-urlencoded",
            "x-slack-request-timestamp": stamp,
            "x-slack-signature": slack_signature(secret, stamp, body),
        },
    )
    return reply.status_code, reply.json()


def test_bad_signature_is_401(client: TestClient) -> None:
    status, body = slash(client, "incidents", secret="not-the-signing-secret")
    assert status == 401 and body["detail"] == "X-Slack-Signature: does not match the body"


def test_stale_timestamp_is_401_even_with_a_good_signature(client: TestClient) -> None:
    status, body = slash(client, "incidents", ts=time.time() - 301)
    assert status == 401 and "X-Slack-Request-Timestamp" in body["detail"]


def test_missing_headers_are_401(client: TestClient) -> None:
    reply = client.post("/v1/chatops/slack", content=b"text=incidents")
    assert reply.status_code == 401


def test_verdict_command(client: TestClient) -> None:
    status, body = slash(client, "verdict api v2")
    assert status == 200 and body["text"].startswith("*api v2: fail*")
    assert "https://aiops.example/ui/deployments/api-v2" in body["text"]
    assert "No deployment of api v9" in slash(client, "verdict api v9")[1]["text"]


def test_incidents_command(client: TestClient, incident_id: str) -> None:
    text = slash(client, "incidents api")[1]["text"]
    assert incident_id in text and f"https://aiops.example/ui/incidents/{incident_id}" in text
    assert slash(client, "incidents web")[1]["text"] == "No open incidents for web."


def test_ack_only_for_users_mapped_to_write(client: TestClient, incident_id: str) -> None:
    for user in ("UREADER", "USTRANGER"):
        assert "not mapped to the write scope" in slash(client, f"ack {incident_id}", user)[1]["text"]
    assert client.get(f"/v1/incidents/{incident_id}").json()["status"] == "open"
    status, body = slash(client, f"ack {incident_id}", "UWRITER")
    assert status == 200 and body["response_type"] == "in_channel" and "acknowledged" in body["text"]
    assert client.get(f"/v1/incidents/{incident_id}").json()["status"] == "acknowledged"


def test_unknown_command_gets_help(client: TestClient) -> None:
    assert slash(client, "dance")[1]["text"].startswith("Usage:")


def test_off_without_a_signing_secret(sqlite_store: SqlStore) -> None:
    with TestClient(create_app(Settings(), sqlite_store, chat=ChatOpsSettings())) as c:
        assert c.post("/v1/chatops/slack", content=b"text=x").status_code == 404


def test_signature_matches_slacks_documented_example() -> None:
    """The worked example of Slack's "Verifying requests from Slack" page, byte for byte."""
    body = (
        b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
        b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
        b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
        b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    expected = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    assert slack_signature(SIGNING, "1531420618", body) == expected

"""ChatOps: the ``/aiops`` Slack slash command (``POST /v1/chatops/slack``).

Slack signs every request (``v0`` HMAC-SHA256 of ``v0:timestamp:body`` with the app's signing
secret); a request with a bad signature, or a timestamp more than 5 minutes away, gets 401, so a
captured request cannot be replayed later. Reading needs nothing more; ``ack`` acts only for Slack
users mapped to the ``write`` scope (``AIOPS_SLACK_USERS=U0123:write,U0456:read``).

Commands: ``verdict SERVICE VERSION``, ``incidents [SERVICE]``, ``ack INCIDENT``, ``help``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, HTTPException, Request

from aiops.api.deps import StoreDep
from aiops.api.routes.incidents import _set_status
from aiops.config import ConfigError
from aiops.model import IncidentStatus, VerdictResult
from aiops.notify.signing import verify_slack
from aiops.store.base import IncidentFilter

router = APIRouter(tags=["chatops"])
MAX_BODY = 16 << 10
HELP = (
    "Usage: `/aiops verdict SERVICE VERSION` · `/aiops incidents [SERVICE]` · `/aiops ack INCIDENT` "
    "(ack needs a Slack user mapped to write)"
)


@dataclass(frozen=True, slots=True)
class ChatOpsSettings:
    slack_signing_secret: str | None = None
    slack_users: Mapping[str, str] = field(default_factory=dict)  # Slack user id -> scope
    public_url: str = "http://127.0.0.1:8080"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ChatOpsSettings:
        """
        >>> ChatOpsSettings.from_env({"AIOPS_SLACK_USERS": "U1:write, U2:read"}).slack_users
        {'U1': 'write', 'U2': 'read'}
        >>> ChatOpsSettings.from_env({"AIOPS_SLACK_USERS": "U1:admin"})
        Traceback (most recent call last):
        ...
        aiops.config.ConfigError: AIOPS_SLACK_USERS: user 'U1' has scope 'admin'; use read or write
        """
        source = os.environ if env is None else env
        users = {}
        for item in filter(None, (p.strip() for p in source.get("AIOPS_SLACK_USERS", "").split(","))):
            user, _, scope = item.partition(":")
            if scope not in ("read", "write") or not user:
                raise ConfigError(f"AIOPS_SLACK_USERS: user {user!r} has scope {scope!r}; use read or write")
            users[user] = scope
        return cls(
            source.get("AIOPS_SLACK_SIGNING_SECRET", "").strip() or None,
            users,
            (source.get("AIOPS_PUBLIC_URL", "").strip() or "http://127.0.0.1:8080").rstrip("/"),
        )


def _reply(text: str, public: bool = False) -> dict[str, Any]:
    return {"response_type": "in_channel" if public else "ephemeral", "text": text}


def _verdict(store: StoreDep, base: str, args: list[str]) -> dict[str, Any]:
    if len(args) != 2:
        return _reply("Usage: `/aiops verdict SERVICE VERSION`")
    row = store.find_deployment(args[0], args[1])
    if row is None:
        return _reply(f"No deployment of {args[0]} {args[1]}.")
    if row.verdict is None:
        return _reply(f"{args[0]} {args[1]}: pending (no look yet).")
    v = row.verdict
    lines = [f"*{args[0]} {args[1]}: {v.verdict.value}* (score {v.score:.0f}/100) {v.reason}"]
    for m in v.metrics:
        if m.verdict is VerdictResult.FAIL and m.change is not None:
            lines.append(f"• {m.metric}: {m.change:+.1%} (p={m.p_value:.2g})" if m.p_value else f"• {m.metric}")
    lines.append(f"{base}/ui/deployments/{row.deploy.id}")
    return _reply("\n".join(lines))


def _incidents(store: StoreDep, base: str, args: list[str]) -> dict[str, Any]:
    service = args[0] if args else None
    found = [
        inc
        for status in (IncidentStatus.OPEN, IncidentStatus.ACKNOWLEDGED)
        for inc in store.list_incidents(IncidentFilter(service=service, status=status), limit=10).items
    ]
    if not found:
        return _reply(f"No open incidents{' for ' + service if service else ''}.")
    lines = [
        f"• `{i.id}` {i.service} {i.status.value} {i.severity}: {i.summary[:100]} <{base}/ui/incidents/{i.id}|open>"
        for i in found[:10]
    ]
    return _reply("\n".join(lines))


def _ack(store: StoreDep, cfg: ChatOpsSettings, user: str, args: list[str]) -> dict[str, Any]:
    if len(args) != 1:
        return _reply("Usage: `/aiops ack INCIDENT`")
    if cfg.slack_users.get(user) != "write":
        return _reply(f"Slack user {user} is not mapped to the write scope (AIOPS_SLACK_USERS); nothing changed.")
    try:
        inc = _set_status(store, args[0], IncidentStatus.ACKNOWLEDGED)
    except HTTPException as exc:
        return _reply(str(exc.detail))
    return _reply(f"<@{user}> acknowledged `{inc.id}` ({inc.service}).", public=True)


@router.post("/v1/chatops/slack", responses={401: {"description": "bad signature or stale timestamp"}})
async def slack_command(request: Request, store: StoreDep) -> dict[str, Any]:
    cfg: ChatOpsSettings = request.app.state.chatops
    if not cfg.slack_signing_secret:
        raise HTTPException(404, "the Slack command is off: set AIOPS_SLACK_SIGNING_SECRET")
    body = await request.body()
    if len(body) > MAX_BODY:
        raise HTTPException(413, f"body: larger than {MAX_BODY} bytes")
    problem = verify_slack(
        cfg.slack_signing_secret,
        request.headers.get("x-slack-request-timestamp", ""),
        request.headers.get("x-slack-signature", ""),
        body,
        time.time(),
    )
    if problem:
        raise HTTPException(401, problem)
    form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    words = form.get("text", "").split()
    command, args = (words[0].lower(), words[1:]) if words else ("help", [])
    if command == "verdict":
        return _verdict(store, cfg.public_url, args)
    if command == "incidents":
        return _incidents(store, cfg.public_url, args)
    if command in ("ack", "acknowledge"):
        return _ack(store, cfg, form.get("user_id", ""), args)
    return _reply(HELP)

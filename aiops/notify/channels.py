"""Channels turn an outbox message into one HTTP request; the sender sends it and retries.

Keeping channels free of I/O makes each payload a pure function, tested without a server, and
keeps retries, back-off and idempotency in one place (:mod:`aiops.notify.sender`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from aiops.model import Incident
from aiops.notify import text
from aiops.notify.settings import NotifySettings, Route
from aiops.notify.signing import sign_webhook
from aiops.store.outbox import OutboxMessage


@dataclass(frozen=True, slots=True)
class Outgoing:
    url: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class Channel(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def route(self) -> Route: ...

    def request(self, msg: OutboxMessage, now: float) -> Outgoing: ...


def _json(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def _base_headers(msg: OutboxMessage) -> dict[str, str]:
    return {"Content-Type": "application/json", "Idempotency-Key": msg.id}


@dataclass(frozen=True, slots=True)
class SlackChannel:
    """Slack incoming webhook (blocks); Mattermost takes the same JSON but not blocks; Teams wants a card."""

    url: str
    public_url: str
    format: str = "slack"
    route: Route = field(default_factory=Route)
    name: str = "slack"

    def payload(self, msg: OutboxMessage) -> dict[str, Any]:
        b = msg.body
        head, deploy, why = text.headline(b), text.deploy_line(b), text.summary(b)
        evidence = text.evidence_lines(b)
        link = text.link(b, self.public_url)
        fallback = f"{head}\n{deploy}\n{why}\n" + "\n".join(evidence) + f"\n{link}"
        if self.format == "teams":
            facts = [{"title": "Deploy", "value": deploy}, *({"title": "Evidence", "value": e} for e in evidence)]
            return {
                "type": "message",
                "attachments": [
                    {
                        "contentType": "application/vnd.microsoft.card.adaptive",
                        "content": {
                            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                            "type": "AdaptiveCard",
                            "version": "1.4",
                            "body": [
                                {"type": "TextBlock", "size": "Medium", "weight": "Bolder", "text": head},
                                {"type": "TextBlock", "wrap": True, "text": why},
                                {"type": "FactSet", "facts": facts},
                            ],
                            "actions": [{"type": "Action.OpenUrl", "title": "Open in aiops", "url": link}],
                        },
                    }
                ],
            }
        if self.format == "mattermost":
            return {"text": fallback}
        evidence_md = "\n".join(f"• {e}" for e in evidence) or "no per-metric evidence"
        return {
            "text": fallback,
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": head[:150]}},
                {"type": "section", "text": {"type": "mrkdwn", "text": f"*{deploy}*\n{why}"}},
                {"type": "section", "text": {"type": "mrkdwn", "text": evidence_md}},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": f"<{link}|Open in aiops>"}]},
            ],
        }

    def request(self, msg: OutboxMessage, now: float) -> Outgoing:
        return Outgoing(self.url, _json(self.payload(msg)), _base_headers(msg))


@dataclass(frozen=True, slots=True)
class WebhookChannel:
    """Generic JSON webhook: the message as it is, signed (aiops/notify/signing.py)."""

    url: str
    secret: str
    public_url: str
    route: Route = field(default_factory=Route)
    name: str = "webhook"

    def request(self, msg: OutboxMessage, now: float) -> Outgoing:
        payload = {"id": msg.id, "created_at": msg.created_at, "link": text.link(msg.body, self.public_url), **msg.body}
        body = _json(payload)
        return Outgoing(self.url, body, {**_base_headers(msg), **sign_webhook(self.secret, body, now)})


def _rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat().replace("+00:00", "Z")


def alert_for(
    incident: dict[str, Any],
    deployment: dict[str, Any] | None,
    service: str,
    severity: str,
    public_url: str,
    ends_at: float | None,
) -> dict[str, Any]:
    """One Alertmanager v2 alert; its labels identify it, so a later post with endsAt resolves it."""
    alert: dict[str, Any] = {
        "labels": {
            "alertname": "AiopsIncident",
            "service": service,
            "deploy": (deployment or {}).get("version") or (deployment or {}).get("id") or "none",
            "severity": severity,
            "incident": incident["id"],
        },
        "annotations": {
            "summary": incident.get("summary", ""),
            "console": text.link({"incident": incident}, public_url),
        },
        "startsAt": _rfc3339(incident["opened_at"]),
        "generatorURL": text.link({"incident": incident}, public_url),
    }
    if ends_at is not None:
        alert["endsAt"] = _rfc3339(ends_at)
    return alert


@dataclass(frozen=True, slots=True)
class AlertmanagerChannel:
    """Incidents as Alertmanager alerts (POST /api/v2/alerts), so routing, grouping and silences apply.

    Alertmanager ends an alert nobody re-posts after ``resolve_timeout`` (5 minutes by default), as
    Prometheus re-sends firing alerts; :meth:`refresh` re-posts the open incidents for that reason.
    Failed-verdict messages are not alerts (the incident they open is) and are skipped.
    """

    url: str
    public_url: str
    route: Route = field(default_factory=Route)
    name: str = "alertmanager"

    @property
    def endpoint(self) -> str:
        return self.url.rstrip("/") + "/api/v2/alerts"

    def handles(self, msg: OutboxMessage) -> bool:
        return msg.kind.startswith("incident.")

    def request(self, msg: OutboxMessage, now: float) -> Outgoing:
        inc = msg.body["incident"]
        ends = (inc.get("resolved_at") or now) if msg.kind == "incident.resolved" else None
        alert = alert_for(inc, msg.body.get("deployment"), msg.service, msg.severity, self.public_url, ends)
        return Outgoing(self.endpoint, _json([alert]), _base_headers(msg))

    def refresh(self, incidents: list[Incident], versions: dict[str, str]) -> Outgoing | None:
        """Re-post every still-open incident's alert (no endsAt: firing)."""
        alerts = []
        for inc in incidents:
            if not self.route.wants(inc.service, inc.severity):
                continue
            deployment = {"id": inc.deployment_id, "version": versions.get(inc.deployment_id or "", "")}
            facts = {"id": inc.id, "summary": inc.summary, "opened_at": inc.opened_at}
            alerts.append(
                alert_for(
                    facts, deployment if inc.deployment_id else None, inc.service, inc.severity, self.public_url, None
                )
            )
        if not alerts:
            return None
        return Outgoing(self.endpoint, _json(alerts), {"Content-Type": "application/json"})


def configured(settings: NotifySettings) -> list[Channel]:
    """The channels the environment names, each with its route."""
    out: list[Channel] = []
    if settings.slack_url:
        out.append(
            SlackChannel(settings.slack_url, settings.public_url, settings.slack_format, settings.route("slack"))
        )
    if settings.webhook_url and settings.webhook_secret:
        out.append(
            WebhookChannel(
                settings.webhook_url, settings.webhook_secret, settings.public_url, settings.route("webhook")
            )
        )
    if settings.alertmanager_url:
        out.append(AlertmanagerChannel(settings.alertmanager_url, settings.public_url, settings.route("alertmanager")))
    return out

"""The words of a notification, shared by every chat channel: what, which deploy, the strongest evidence.

>>> msg = {"kind": "incident.opened", "service": "api", "severity": "critical",
...        "incident": {"id": "inc-1", "summary": "p99 +50%", "confidence": 0.97},
...        "deployment": {"id": "api-v2", "version": "v2"},
...        "evidence": [{"metric": "p99", "change": 0.5, "baseline": 0.2, "current": 0.3, "p_value": 1e-9}]}
>>> headline(msg)
'Incident opened: api (critical)'
>>> deploy_line(msg), evidence_lines(msg)
('Deploy: api v2 (api-v2)', ['p99: +50.0% (0.2 -> 0.3, p=1e-09)'])
>>> link(msg, "https://aiops.example")
'https://aiops.example/ui/incidents/inc-1'
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

TITLES = {
    "incident.opened": "Incident opened",
    "incident.resolved": "Incident resolved",
    "verdict.fail": "Deploy failed",
}


def headline(body: dict[str, Any]) -> str:
    return f"{TITLES.get(body['kind'], body['kind'])}: {body['service']} ({body['severity']})"


def deploy_line(body: dict[str, Any]) -> str:
    d = body.get("deployment")
    if not d:
        return "Deploy: none blamed (fleet-wide)"
    return f"Deploy: {body['service']} {d.get('version') or '?'} ({d['id']})"


def evidence_lines(body: dict[str, Any]) -> list[str]:
    out = []
    for m in body.get("evidence", []):
        change = "" if m.get("change") is None else f"{m['change']:+.1%}"
        detail = []
        if m.get("baseline") is not None and m.get("current") is not None:
            detail.append(f"{m['baseline']:.4g} -> {m['current']:.4g}")
        if m.get("p_value") is not None:
            detail.append(f"p={m['p_value']:.2g}")
        out.append(f"{m['metric']}: {change} ({', '.join(detail)})".replace(" ()", ""))
    return out


def summary(body: dict[str, Any]) -> str:
    if "incident" in body:
        inc = body["incident"]
        return f"{inc.get('summary', '')} (confidence {inc.get('confidence', 0):.0%})"
    v = body.get("verdict", {})
    return f"{v.get('reason', '')} (score {v.get('score', 0):.0f}/100)"


def link(body: dict[str, Any], base: str) -> str:
    if "incident" in body:
        return f"{base}/ui/incidents/{quote(body['incident']['id'], safe='')}"
    return f"{base}/ui/deployments/{quote(body['deployment']['id'], safe='')}"

"""``aiops gate``: a release gate for CI pipelines (docs/contracts.md section 9).

Exit codes: 0 pass, 1 fail, 2 inconclusive / still pending / timed out, 3 service unreachable or
deployment unknown.
"""

from __future__ import annotations

import os
import time
from typing import IO, Any
from urllib.parse import quote

import httpx

EXIT = {"pass": 0, "fail": 1, "inconclusive": 2, "pending": 2}
UNREACHABLE = 3
POLL_SECONDS = 5.0


def _fetch(client: httpx.Client, deployment: str | None, service: str | None, version: str | None) -> httpx.Response:
    if deployment:
        return client.get(f"/v1/deployments/{quote(deployment, safe='')}/verdict")
    return client.get("/v1/verdict", params={"service": service, "version": version})


def describe(verdict: dict[str, Any]) -> str:
    lines = [
        f"{verdict.get('service')} {verdict.get('version', '')} ({verdict.get('deployment_id')}): "
        f"{str(verdict.get('verdict')).upper()} score {verdict.get('score')}",
        f"  {verdict.get('reason', '')}",
    ]
    for m in verdict.get("metrics", []):
        change = m.get("change")
        change_text = f"{change:+.1%}" if isinstance(change, int | float) else "-"
        lines.append(f"  - {m.get('metric')}: {m.get('verdict')} ({change_text}) {m.get('reason', '')}")
    return "\n".join(lines)


def run_gate(
    *,
    deployment: str | None,
    service: str | None,
    version: str | None,
    wait: bool,
    timeout: float,
    url: str | None,
    out: IO[str],
    client: httpx.Client | None = None,
) -> int:
    base = url or os.environ.get("AIOPS_URL") or "http://127.0.0.1:8080"
    headers = {"Authorization": f"Bearer {os.environ['AIOPS_TOKEN']}"} if os.environ.get("AIOPS_TOKEN") else {}
    own = client is None
    client = client or httpx.Client(base_url=base, headers=headers, timeout=10.0)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                response = _fetch(client, deployment, service, version)
            except httpx.HTTPError as exc:
                out.write(f"aiops gate: cannot reach {base}: {exc}\n")
                return UNREACHABLE
            if response.status_code == 404:
                out.write(f"aiops gate: {response.json().get('detail', 'unknown deployment')}\n")
                return UNREACHABLE
            if response.status_code in (401, 403):
                out.write(f"aiops gate: {response.status_code} {response.json().get('detail', '')} (set AIOPS_TOKEN)\n")
                return UNREACHABLE
            if response.status_code != 200:
                out.write(f"aiops gate: unexpected answer {response.status_code} from {base}\n")
                return UNREACHABLE
            verdict = response.json()
            state = verdict.get("verdict", "pending")
            if state != "pending" or not wait or time.monotonic() >= deadline:
                out.write(describe(verdict) + "\n")
                if state == "pending" and wait:
                    out.write(f"aiops gate: no final verdict after {timeout:.0f} s\n")
                return EXIT.get(state, 2)
            time.sleep(min(POLL_SECONDS, max(0.0, deadline - time.monotonic())))
    finally:
        if own:
            client.close()

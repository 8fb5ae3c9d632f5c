"""Signatures: ours on outgoing webhooks, Slack's on incoming slash commands.

Outgoing (generic webhook): ``X-Aiops-Timestamp: <unix seconds>`` and
``X-Aiops-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>``. A receiver recomputes
it, refuses a timestamp more than 5 minutes away (replay protection) and drops a repeated
``Idempotency-Key``.

Incoming (Slack): ``X-Slack-Signature: v0=<hex HMAC-SHA256(signing secret, "v0:<timestamp>:<body>")>``
with ``X-Slack-Request-Timestamp`` within 5 minutes of now, as Slack documents for request verification.

>>> headers = sign_webhook("s3cret", b'{"a":1}', now=1000)
>>> verify_webhook("s3cret", headers, b'{"a":1}', now=1100)
True
>>> verify_webhook("s3cret", headers, b'{"a":2}', now=1100), verify_webhook("s3cret", headers, b'{"a":1}', now=1400)
(False, False)
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

WINDOW_S = 300


def _hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign_webhook(secret: str, body: bytes, now: float) -> dict[str, str]:
    ts = str(int(now))
    return {"X-Aiops-Timestamp": ts, "X-Aiops-Signature": "v1=" + _hex(secret, ts.encode() + b"." + body)}


def _fresh(ts: str, now: float) -> bool:
    try:
        return abs(now - int(ts)) <= WINDOW_S
    except ValueError:
        return False


def verify_webhook(secret: str, headers: Mapping[str, str], body: bytes, now: float) -> bool:
    """What a receiver of our webhook does (the tests' receiver does exactly this)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    ts = lowered.get("x-aiops-timestamp", "")
    expected = "v1=" + _hex(secret, ts.encode() + b"." + body)
    return _fresh(ts, now) and hmac.compare_digest(expected, lowered.get("x-aiops-signature", ""))


def slack_signature(secret: str, ts: str, body: bytes) -> str:
    return "v0=" + _hex(secret, b"v0:" + ts.encode() + b":" + body)


def verify_slack(secret: str, ts: str, signature: str, body: bytes, now: float) -> str | None:
    """None when the request is Slack's; otherwise why not (for the 401's detail).

    >>> sig = slack_signature("8f742231b10e8888abcd99yyyzzz85a5", "1531420618", b"token=x")
    >>> verify_slack("8f742231b10e8888abcd99yyyzzz85a5", "1531420618", sig, b"token=x", now=1531420700) is None
    True
    >>> verify_slack("8f742231b10e8888abcd99yyyzzz85a5", "1531420618", sig, b"token=x", now=1531429999)
    'X-Slack-Request-Timestamp: more than 300 s from now'
    """
    if not ts or not _fresh(ts, now):
        return (
            f"X-Slack-Request-Timestamp: more than {WINDOW_S} s from now"
            if ts
            else "X-Slack-Request-Timestamp: missing"
        )
    if not signature:
        return "X-Slack-Signature: missing"
    if not hmac.compare_digest(slack_signature(secret, ts, body), signature):
        return "X-Slack-Signature: does not match the body"
    return None

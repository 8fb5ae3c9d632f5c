"""Bearer-token auth (docs/contracts.md section 8): ``read`` reads, ``write`` also ingests and changes.

With no tokens configured every request is allowed; ``aiops serve`` then binds only to loopback.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

from fastapi import HTTPException, Request

from aiops.config import ApiToken

SCOPES = {"read": 0, "write": 1}


def require(scope: str) -> Callable[[Request], ApiToken | None]:
    """A FastAPI dependency that lets the request through only with a token of ``scope`` or above."""

    def check(request: Request) -> ApiToken | None:
        tokens: tuple[ApiToken, ...] = request.app.state.settings.tokens
        if not tokens:
            return None
        header = request.headers.get("authorization", "")
        kind, _, secret = header.partition(" ")
        if not header and request.query_params.get("access_token"):
            # RFC 6750 2.3: for callers that cannot set headers (Flagger webhooks).
            kind, secret = "bearer", request.query_params["access_token"]
        if kind.lower() != "bearer" or not secret:
            raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
        # Compare every token in constant time so timing says nothing about which secrets exist.
        match = None
        for token in tokens:
            if hmac.compare_digest(token.secret.encode(), secret.strip().encode()):
                match = token
        if match is None:
            raise HTTPException(401, "unknown token", headers={"WWW-Authenticate": "Bearer"})
        if SCOPES[match.scope] < SCOPES[scope]:
            raise HTTPException(403, f"token {match.name!r} has scope {match.scope!r}; this needs {scope!r}")
        return match

    return check

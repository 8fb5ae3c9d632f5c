"""Saying "not now" quickly: bounded concurrency and a store that is away both answer 503 + Retry-After.

An API that queues every request it cannot serve yet only gets slower for everyone (and its
callers time out and retry, adding more); one that refuses the excess at once stays fast for the
requests it does take. Release gates and dashboards already retry on 503 with Retry-After.

>>> limit = ConcurrencyLimit(lambda scope, receive, send: None, limit=2)
>>> limit.limit, limit.in_flight
(2, 0)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from aiops.store.base import StoreUnavailable

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Liveness must answer under overload, or the orchestrator restarts a busy but healthy process.
EXEMPT_PATHS = frozenset({"/healthz"})
OVERLOAD_RETRY_AFTER_S = 1
STORE_RETRY_AFTER_S = 5


class ConcurrencyLimit:
    """ASGI middleware: at most ``limit`` requests in progress; the next get 503 with Retry-After.

    One event loop runs the middleware, so the counter needs no lock.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        if limit < 1:
            raise ValueError("AIOPS_API_MAX_CONCURRENCY: must be at least 1")
        self.app = app
        self.limit = limit
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            busy = JSONResponse(
                {"detail": f"overloaded: {self.limit} requests in progress; retry after {OVERLOAD_RETRY_AFTER_S} s"},
                status_code=503,
                headers={"Retry-After": str(OVERLOAD_RETRY_AFTER_S)},
            )
            await busy(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


async def store_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """The store waited and retried, and the database is still away (restarting, locked, full)."""
    return JSONResponse(
        {"detail": f"store unavailable: {exc}"},
        status_code=503,
        headers={"Retry-After": str(STORE_RETRY_AFTER_S)},
    )


__all__ = ["ConcurrencyLimit", "StoreUnavailable", "store_unavailable"]

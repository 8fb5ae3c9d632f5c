"""The HTTP API, built by :func:`create_app` so each test (and each process) chooses its parts.

>>> from fastapi.testclient import TestClient
>>> from aiops.store import open_store
>>> app = create_app(Settings(), open_store("sqlite://:memory:"))
>>> TestClient(app).get("/healthz").json()
{'status': 'ok', 'detail': ''}
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from prometheus_client import CollectorRegistry

from aiops import __version__
from aiops.api import ui
from aiops.api.docs import add_offline_docs
from aiops.api.overload import ConcurrencyLimit, StoreUnavailable, store_unavailable
from aiops.api.routes import chatops, delivery, deployments, events, feedback, gates, health, incidents
from aiops.api.routes.chatops import ChatOpsSettings
from aiops.config import Settings
from aiops.delivery import team_measures
from aiops.metrics import Metrics
from aiops.pipeline import Pipeline, build_pipeline
from aiops.store.base import Store


def create_app(
    settings: Settings,
    store: Store,
    registry: CollectorRegistry | None = None,
    pipeline: Pipeline | None = None,
    chat: ChatOpsSettings | None = None,
) -> FastAPI:
    metrics = Metrics(registry)
    metrics.watch_open_incidents(store.count_open_incidents)
    store.set_service_teams(dict(settings.service_teams))
    metrics.watch_delivery(lambda start, end: team_measures(store, start=start, end=end))
    app = FastAPI(
        title="aiops",
        version=__version__,
        summary="Deploy-aware anomaly detection: verdicts for release gates, incidents for dashboards.",
        docs_url=None,  # served by add_offline_docs, from packaged assets: /docs works offline
        redoc_url=None,
    )
    add_offline_docs(app)
    app.state.settings = settings
    app.state.store = store
    app.state.metrics = metrics
    app.state.chatops = chat or ChatOpsSettings.from_env()
    app.state.pipeline = pipeline or build_pipeline(settings, store, metrics)
    if app.state.pipeline.metrics is None:
        app.state.pipeline.metrics = metrics
    app.state.pipeline.refresh_calibration()
    # Added before `observe`, so inside it: the 503s it answers are counted like any response.
    app.add_middleware(ConcurrencyLimit, limit=settings.api_max_concurrency)
    app.add_exception_handler(StoreUnavailable, store_unavailable)

    @app.middleware("http")
    async def observe(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        # The route template, never the raw path: ids in paths would explode label cardinality.
        template = getattr(route, "path", "unmatched")
        metrics.http_duration.labels(request.method, template, str(response.status_code)).observe(
            time.perf_counter() - started
        )
        return response

    for module in (health, events, deployments, incidents, gates, feedback, chatops, delivery):
        app.include_router(module.router)
    ui.install(app)
    return app

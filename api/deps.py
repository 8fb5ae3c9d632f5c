"""Dependency aliases: routes ask for what they need, tests choose what they get (create_app)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from aiops.api.auth import require
from aiops.config import ApiToken, Settings
from aiops.metrics import Metrics
from aiops.pipeline import Pipeline
from aiops.store.base import Store


def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def get_pipeline(request: Request) -> Pipeline:
    pipeline: Pipeline = request.app.state.pipeline
    return pipeline


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


StoreDep = Annotated[Store, Depends(get_store)]
PipelineDep = Annotated[Pipeline, Depends(get_pipeline)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
ReadAuth = Annotated[ApiToken | None, Depends(require("read"))]
WriteAuth = Annotated[ApiToken | None, Depends(require("write"))]

"""The app's own objects (``app.state``) at the core layer: settings and metrics, as getters and
``Annotated`` dependency aliases. The serving runtime's are in ``app.serving.deps``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.core.config import Settings
from app.core.metrics import ServiceMetrics


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_metrics(request: Request) -> ServiceMetrics:
    return request.app.state.metrics


SettingsDep = Annotated[Settings, Depends(get_settings)]
MetricsDep = Annotated[ServiceMetrics, Depends(get_metrics)]

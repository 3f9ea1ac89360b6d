"""Liveness and readiness (open even when an API key is set: probes do not carry one)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.schemas.health import LiveStatus, ModelStatus, ReadyStatus
from app.serving.deps import RegistryDep
from app.serving.registry import ModelRegistry
from models.device import describe_device

router = APIRouter(tags=["health"])


@router.get("/health/live", summary="The process is up")
async def live() -> LiveStatus:
    return LiveStatus()


@router.get(
    "/health/ready",
    summary="Every configured model is loaded and warmed up",
    response_model=ReadyStatus,
    responses={503: {"model": ReadyStatus, "description": "Some model is loading or failed."}},
)
async def ready(registry: RegistryDep) -> JSONResponse:
    ready = registry.ready
    status = ReadyStatus(
        status="ready" if ready else "not_ready",
        device=describe_device(registry.device),
        models=_statuses(registry),
    )
    return JSONResponse(status.model_dump(), status_code=200 if ready else 503)


def _statuses(registry: ModelRegistry) -> list[ModelStatus]:
    return [
        ModelStatus(
            name=model.name,
            task=model.entry.task,
            state=model.state.value,
            reason=model.reason,
        )
        for model in registry.models
    ]

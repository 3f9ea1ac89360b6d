"""Liveness, readiness and the list of served models."""

from __future__ import annotations

import torch
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.deps import RegistryDep
from app.schemas.health import LiveStatus, ModelInfo, ModelList, ModelStatus, ReadyStatus
from app.serving.registry import ModelRecord, ModelRegistry
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


@router.get("/models", summary="The models in the manifest: what they are, state, figures")
async def list_models(registry: RegistryDep) -> ModelList:
    device = describe_device(registry.device)
    return ModelList(models=[_info(record, device) for record in registry.records])


def _info(record: ModelRecord, device: str) -> ModelInfo:
    info = record.entry.info
    metrics = info.get("metrics") if isinstance(info.get("metrics"), dict) else {}
    dtype = getattr(record.model, "dtype", torch.float32) if record.model is not None else None
    return ModelInfo(
        name=record.entry.name,
        task=record.entry.task,
        state=record.state.value,
        reason=record.reason,
        architecture=info.get("architecture") or info.get("arch"),
        classes=info.get("classes") or info.get("class_names"),
        input_size=info.get("input_size"),
        device=device,
        dtype=str(dtype).removeprefix("torch.") if dtype is not None else None,
        metrics={
            key: value
            for key, value in metrics.items()
            if isinstance(value, int | float) and not isinstance(value, bool)
        },
        sha256=record.entry.sha256,
    )


def _statuses(registry: ModelRegistry) -> list[ModelStatus]:
    return [
        ModelStatus(
            name=record.entry.name,
            task=record.entry.task,
            state=record.state.value,
            reason=record.reason,
        )
        for record in registry.records
    ]

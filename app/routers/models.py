"""``GET /models``: what each model is and how it is served; ``POST /models/{name}/reload``:
load a model's checkpoint again from the manifest and swap it in without a restart."""

from __future__ import annotations

from fastapi import APIRouter

from app.core.config import Settings
from app.core.deps import SettingsDep
from app.schemas.common import ErrorMessage
from app.schemas.models import (
    AcceptedImages,
    BatchingInfo,
    DetectionDefaults,
    ModelInfo,
    ModelList,
)
from app.serving.deps import RegistryDep
from app.serving.registry import ModelRegistry
from app.serving.served import ServedModel
from app.serving.tasks.base import ServedTask
from models.data.images import InputLimits
from models.device import describe_device

router = APIRouter(tags=["models"])
# An operator's action: needs X-Admin-Key, and is off while D2L_ADMIN_KEY is unset.
admin_router = APIRouter(tags=["models"])


@router.get("/models", summary="The models in the manifest: what they are, state, figures")
async def list_models(registry: RegistryDep, settings: SettingsDep) -> ModelList:
    device = describe_device(registry.device)
    return ModelList(
        models=[model_info(registry, model, device, settings) for model in registry.models]
    )


@admin_router.post(
    "/models/{name}/reload",
    summary="Reload a model from the manifest",
    description="Reads the manifest again, verifies and loads the model's checkpoint next to "
    "the one serving, then swaps them: requests already queued finish on the old model. Use "
    "it after replacing a weights file and its manifest entry, or to retry a model that "
    "failed to load. Needs the header X-Admin-Key with D2L_ADMIN_KEY; while no admin key is "
    "set, reloading over HTTP is off (403).",
    responses={
        401: {"model": ErrorMessage, "description": "X-Admin-Key missing or wrong."},
        403: {"model": ErrorMessage, "description": "Reloading is off: D2L_ADMIN_KEY is unset."},
        404: {"model": ErrorMessage, "description": "No model of that name in the manifest."},
        409: {"model": ErrorMessage, "description": "A reload of that model is running."},
        422: {
            "model": ErrorMessage,
            "description": "The new checkpoint could not be loaded; the old model still serves.",
        },
    },
)
async def reload_model(name: str, registry: RegistryDep, settings: SettingsDep) -> ModelInfo:
    model = await registry.reload(name)
    return model_info(registry, model, describe_device(registry.device), settings)


def accepted_images(task: ServedTask | None, settings: Settings) -> AcceptedImages | None:
    """What a loaded image model takes (its ``input_limits``) within the service's limits."""
    limits = getattr(task, "input_limits", None)
    if not isinstance(limits, InputLimits):
        return None
    aspect = settings.max_image_aspect
    return AcceptedImages(
        max_pixels=settings.max_image_pixels,
        max_side=settings.max_image_side,
        min_side=limits.min_side,
        max_aspect=min(aspect, limits.max_aspect) if limits.max_aspect else aspect,
    )


def model_info(
    registry: ModelRegistry, model: ServedModel, device: str, settings: Settings
) -> ModelInfo:
    task_type = registry.task_type(model.entry.task) or ServedTask
    facts = task_type.describe(model.entry)
    task, batcher = model.task, model.batcher
    return ModelInfo(
        name=model.name,
        task=model.entry.task,
        state=model.state.value,
        reason=model.reason,
        default=registry.default_model(model.entry.task) == model.name,
        architecture=facts.architecture,
        classes=facts.classes,
        input_size=facts.input_size,
        device=device,
        dtype=str(task.dtype).removeprefix("torch.") if task is not None else None,
        dtype_reason=model.dtype_reason,
        batching=BatchingInfo(
            max_batch_size=batcher.config.max_batch_size,
            max_wait_ms=batcher.config.max_wait_ms,
            max_queue=batcher.config.max_queue,
            max_queue_wait_s=batcher.config.max_queue_wait_s,
        )
        if batcher is not None
        else None,
        metrics=facts.metrics,
        accepts=accepted_images(task, settings),
        thresholds=DetectionDefaults(**facts.thresholds) if facts.thresholds else None,
        masks=facts.masks,
        sha256=model.entry.sha256,
    )

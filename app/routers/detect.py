"""``POST /detect`` and ``POST /detect/batch``: objects in uploaded images.

Decoding and preprocessing run in the decode thread pool; the images then join the model's
dynamic batcher, which runs them with other requests' images in one forward pass, each with its
own thresholds.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, replace
from typing import Annotated

import torch
from fastapi import Depends, Query, UploadFile
from fastapi.responses import Response
from torchvision.transforms.v2 import functional as TF
from torchvision.utils import draw_bounding_boxes

from app.schemas.detect import BatchDetectionResult, DetectedObject, DetectionResult, ImageSize
from app.serving.admission import ModelInUse, image_task_router, model_dependency
from app.serving.deps import ImagesDep
from app.serving.intake import (
    BATCH_DESCRIPTION,
    IMAGE_FILE,
    DecodedImage,
    ImagePreparer,
    PreparedImage,
)
from app.serving.memory import trimmed_after
from app.serving.tasks.detect import DetectJob, DetectTask
from models.vision.detection.base import Detection, DetectionThresholds

router = image_task_router(DetectTask, "detection")

DetectModel = Annotated[ModelInUse[DetectTask], Depends(model_dependency(DetectTask))]


@dataclass(frozen=True)
class RequestedThresholds:
    """The thresholds a request names; the model's own (``/models``) stand in for the rest."""

    score_threshold: float | None
    iou_threshold: float | None
    max_detections: int | None

    def over(self, defaults: DetectionThresholds) -> DetectionThresholds:
        named = {key: value for key, value in vars(self).items() if value is not None}
        return replace(defaults, **named)


_MODEL_DEFAULT = " Default: the model's own (its `thresholds` in `/models`)"


def get_thresholds(
    score_threshold: Annotated[
        float | None,
        Query(ge=0, le=1, description="Minimum class score." + _MODEL_DEFAULT + ", else 0.5."),
    ] = None,
    iou_threshold: Annotated[
        float | None,
        Query(
            ge=0, le=1, description="NMS IoU threshold, per class." + _MODEL_DEFAULT + ", else 0.5."
        ),
    ] = None,
    max_detections: Annotated[
        int | None,
        Query(
            ge=1, le=1000, description="At most this many boxes." + _MODEL_DEFAULT + ", else 100."
        ),
    ] = None,
) -> RequestedThresholds:
    return RequestedThresholds(score_threshold, iou_threshold, max_detections)


Thresholds = Annotated[RequestedThresholds, Depends(get_thresholds)]


PNG = {"image/png": {"schema": {"type": "string", "format": "binary"}}}


@router.post(
    "/detect",
    summary="Detect objects in an image",
    description="Boxes in the uploaded image's pixels, by decreasing score. For the image with "
    "the boxes drawn, use `POST /detect/render`.",
    response_model=DetectionResult,
    responses={200: {"content": PNG, "description": "JSON; PNG with the deprecated render=true"}},
)
async def detect(
    file: Annotated[UploadFile, IMAGE_FILE],
    model: DetectModel,
    images: ImagesDep,
    thresholds: Thresholds,
    render: Annotated[
        bool, Query(deprecated=True, description="Use POST /detect/render instead.")
    ] = False,
):
    if render:
        return await _render(file, model, images, thresholds)
    prepared = await images.prepare(file, model.task)
    (found,) = await _detect(model, [prepared], thresholds)
    return _result(model.name, prepared.decoded, found)


@router.post(
    "/detect/render",
    summary="Draw the detected objects on the image",
    description="The uploaded image as PNG, at its own size, with each box, label and score "
    "drawn: what `POST /detect` finds with the same thresholds.",
    response_class=Response,
    responses={200: {"content": PNG, "description": "The image with the boxes drawn."}},
)
async def detect_render(
    file: Annotated[UploadFile, IMAGE_FILE],
    model: DetectModel,
    images: ImagesDep,
    thresholds: Thresholds,
) -> Response:
    return await _render(file, model, images, thresholds)


async def _render(
    file: UploadFile,
    model: ModelInUse[DetectTask],
    images: ImagePreparer,
    thresholds: RequestedThresholds,
) -> Response:
    # Drawn on the full-size image, where /detect may decode it at reduced size.
    prepared = await images.prepare(file, model.task, full_size=True)
    (found,) = await _detect(model, [prepared], thresholds)
    png = await images.run(render_png, prepared.decoded, found)
    return Response(png, media_type="image/png")


@router.post(
    "/detect/batch",
    summary="Detect objects in several images at once",
    description=BATCH_DESCRIPTION,
)
async def detect_batch(
    file: Annotated[list[UploadFile], IMAGE_FILE],
    model: DetectModel,
    images: ImagesDep,
    thresholds: Thresholds,
) -> BatchDetectionResult:
    prepared = await images.prepare_batch(file, model.task, model.reserve)
    found = await _detect(model, prepared, thresholds)
    return BatchDetectionResult(
        results=[_result(model.name, p.decoded, f) for p, f in zip(prepared, found, strict=True)]
    )


async def _detect(
    model: ModelInUse[DetectTask], images: list[PreparedImage], requested: RequestedThresholds
) -> list[list[Detection]]:
    thresholds = requested.over(model.task.thresholds)
    return await model.run(
        [
            DetectJob(image.input, (image.decoded.width, image.decoded.height), thresholds)
            for image in images
        ]
    )


def _result(name: str, decoded: DecodedImage, found: list[Detection]) -> DetectionResult:
    return DetectionResult(
        model=name,
        image=ImageSize(width=decoded.width, height=decoded.height),
        detections=[
            DetectedObject(box=d.box, score=d.score, label=d.label, class_id=d.class_id)
            for d in found
        ],
    )


def render_png(decoded: DecodedImage, found: list[Detection]) -> bytes:
    """The image with each box, label and score drawn (torchvision's draw_bounding_boxes); the
    decoded image is closed, and the memory of a large one given back."""
    if decoded.image is None:
        raise ValueError("render_png needs the decoded image: prepare it with full_size=True")
    with trimmed_after(decoded.decoded_bytes):
        return _drawn_png(decoded, found)


def _drawn_png(decoded: DecodedImage, found: list[Detection]) -> bytes:
    pixels = TF.pil_to_tensor(decoded.image)
    decoded.image.close()  # its last use: the pixels are in the tensor now
    if found:
        boxes = torch.tensor([d.box for d in found])
        width = max(2, round(max(decoded.width, decoded.height) / 200))
        pixels = draw_bounding_boxes(
            pixels,
            boxes,
            labels=[f"{d.label} {d.score:.2f}" for d in found],
            colors="red",
            width=width,
        )
    buffer = io.BytesIO()
    # The fastest zlib level: several times faster than Pillow's default on large images, for a
    # somewhat larger file (docs/hardening.md has the figures).
    TF.to_pil_image(pixels).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()

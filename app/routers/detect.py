"""``POST /detect`` and ``POST /detect/batch``: objects in uploaded images.

Decoding and the forward pass run in worker threads; a batch upload is one forward pass.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Annotated

import torch
from fastapi import APIRouter, Depends, Query, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from torchvision.transforms.v2 import functional as TF
from torchvision.utils import draw_bounding_boxes

from app.deps import RegistryDep, SettingsDep
from app.imaging import DecodedImage
from app.schemas.detect import BatchDetectionResult, DetectedObject, DetectionResult, ImageSize
from app.uploads import IMAGE_FILE, check_batch_size, decode_upload, image_route_errors
from models.vision.detector import Detection, ObjectDetector

TASK = "detect"

router = APIRouter(tags=["detection"], responses=image_route_errors("detection"))


@dataclass(frozen=True)
class DetectModel:
    name: str
    detector: ObjectDetector


async def get_detect_model(
    registry: RegistryDep,
    settings: SettingsDep,
    model: Annotated[str | None, Query(description="A detection model from /models.")] = None,
) -> DetectModel:
    name = model or settings.default_detect_model
    return DetectModel(name, registry.get(name, TASK))


DetectModelDep = Annotated[DetectModel, Depends(get_detect_model)]
ScoreThreshold = Annotated[float, Query(ge=0, le=1, description="Minimum class score.")]
IoUThreshold = Annotated[float, Query(ge=0, le=1, description="NMS IoU threshold, per class.")]
MaxDetections = Annotated[int, Query(ge=1, le=1000, description="At most this many boxes.")]


@router.post(
    "/detect",
    summary="Detect objects in an image",
    description="Boxes in the uploaded image's pixels, by decreasing score. With "
    "`render=true` the answer is the image as PNG with the boxes drawn.",
    response_model=DetectionResult,
    responses={200: {"content": {"image/png": {}}, "description": "JSON, or PNG with render=true"}},
)
async def detect(
    file: Annotated[UploadFile, IMAGE_FILE],
    model: DetectModelDep,
    settings: SettingsDep,
    score_threshold: ScoreThreshold = 0.5,
    iou_threshold: IoUThreshold = 0.5,
    max_detections: MaxDetections = 100,
    render: Annotated[bool, Query(description="Answer with the annotated image (PNG).")] = False,
):
    # Rendering draws on the full-size image; otherwise a JPEG may be decoded at reduced size.
    min_side = None if render else model.detector.input_size
    decoded = await decode_upload(file, settings.max_image_pixels, min_side)
    (found,) = await run_in_threadpool(
        _run, model.detector, [decoded], score_threshold, iou_threshold, max_detections
    )
    if render:
        png = await run_in_threadpool(render_png, decoded, found)
        return Response(png, media_type="image/png")
    return _result(model.name, decoded, found)


@router.post(
    "/detect/batch",
    summary="Detect objects in several images at once",
    description="Send several `file` parts; one forward pass for all of them.",
)
async def detect_batch(
    file: Annotated[list[UploadFile], IMAGE_FILE],
    model: DetectModelDep,
    settings: SettingsDep,
    score_threshold: ScoreThreshold = 0.5,
    iou_threshold: IoUThreshold = 0.5,
    max_detections: MaxDetections = 100,
) -> BatchDetectionResult:
    check_batch_size(len(file), settings.max_batch_images)
    size = model.detector.input_size
    decoded = [await decode_upload(upload, settings.max_image_pixels, size) for upload in file]
    found = await run_in_threadpool(
        _run, model.detector, decoded, score_threshold, iou_threshold, max_detections
    )
    return BatchDetectionResult(
        results=[_result(model.name, d, f) for d, f in zip(decoded, found, strict=True)]
    )


def _run(
    detector: ObjectDetector, images: list[DecodedImage], score: float, iou: float, most: int
) -> list[list[Detection]]:
    return detector.detect(
        [d.image for d in images],
        [(d.width, d.height) for d in images],
        score_threshold=score,
        iou_threshold=iou,
        max_detections=most,
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
    """The image with each box, label and score drawn (torchvision's draw_bounding_boxes)."""
    pixels = TF.pil_to_tensor(decoded.image)
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
    TF.to_pil_image(pixels).save(buffer, format="PNG")
    return buffer.getvalue()

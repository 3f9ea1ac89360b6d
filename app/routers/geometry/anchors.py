"""``/geometry``: anchors, anchor assignment, offset coding and multibox detection
(``models.ops.anchors``)."""

from __future__ import annotations

import torch
from fastapi import Response

from app.routers.geometry.common import (
    DTYPE,
    GeometryPool,
    answer,
    boxes_tensor,
    finite_numbers,
    geometry_router,
)
from app.schemas.geometry.anchors import (
    AnchorsRequest,
    AnchorsResponse,
    AssignRequest,
    AssignResponse,
    DecodeOffsetsRequest,
    DetectRequest,
    DetectResponse,
    EncodeOffsetsRequest,
    OffsetsResponse,
)
from app.schemas.geometry.boxes import BoxesResponse
from models import ops

router = geometry_router()


@router.post(
    "/anchors",
    summary="Anchor boxes of a feature map (d2l's multibox_prior)",
    description="len(sizes) + len(ratios) - 1 anchors per pixel, in normalised xyxy.",
    response_model=AnchorsResponse,
)
async def anchors(body: AnchorsRequest, pool: GeometryPool) -> Response:
    return await answer(pool, _anchors, body)


def _anchors(body: AnchorsRequest) -> AnchorsResponse:
    if body.pixels is None:
        result = ops.multibox_prior(body.height, body.width, body.sizes, body.ratios, dtype=DTYPE)
    else:
        pixels = torch.tensor(body.pixels, dtype=torch.int64).reshape(-1, 2)
        result = ops.multibox_prior_at(
            body.height, body.width, body.sizes, body.ratios, pixels, dtype=DTYPE
        )
    return AnchorsResponse(
        total=body.total, per_pixel=body.per_pixel, anchors=finite_numbers(result, "anchors")
    )


@router.post(
    "/assign",
    summary="Assign ground-truth boxes to anchors and build training targets",
    description="d2l's assign_anchor_to_bbox and multibox_target for one image.",
    response_model=AssignResponse,
)
async def assign(body: AssignRequest, pool: GeometryPool) -> Response:
    return await answer(pool, _assign, body)


def _assign(body: AssignRequest) -> AssignResponse:
    anchors = boxes_tensor(body.anchors, "anchors")
    labels = torch.tensor(body.ground_truth, dtype=DTYPE).reshape(-1, 5)
    ops.check_boxes(labels[:, 1:], "ground_truth")
    targets = ops.multibox_target(anchors, labels.unsqueeze(0), body.iou_threshold)
    return AssignResponse(
        assigned=targets.assigned[0].tolist(),
        labels=targets.classes[0].tolist(),
        offsets=finite_numbers(targets.offsets[0], "offsets"),
        mask=targets.mask[0].tolist(),
    )


@router.post(
    "/offsets/encode",
    summary="Offsets of boxes relative to anchors",
    response_model=OffsetsResponse,
)
async def encode_offsets(body: EncodeOffsetsRequest, pool: GeometryPool) -> Response:
    return await answer(pool, _encode_offsets, body)


def _encode_offsets(body: EncodeOffsetsRequest) -> OffsetsResponse:
    anchors = boxes_tensor(body.anchors, "anchors", allow_empty=False)
    offsets = ops.encode_offsets(anchors, boxes_tensor(body.boxes, "boxes"))
    return OffsetsResponse(offsets=finite_numbers(offsets, "offsets"))


@router.post(
    "/offsets/decode", summary="Boxes from anchors and offsets", response_model=BoxesResponse
)
async def decode_offsets(body: DecodeOffsetsRequest, pool: GeometryPool) -> Response:
    return await answer(pool, _decode_offsets, body)


def _decode_offsets(body: DecodeOffsetsRequest) -> BoxesResponse:
    anchors = boxes_tensor(body.anchors, "anchors")
    offsets = torch.tensor(body.offsets, dtype=DTYPE).reshape(-1, 4)
    return BoxesResponse(boxes=finite_numbers(ops.decode_offsets(anchors, offsets), "boxes"))


@router.post(
    "/detect",
    summary="Multibox detection: decode offsets, then NMS (d2l's multibox_detection)",
    description="The book's rows in the book's order; `nms_threshold` is honoured.",
    response_model=DetectResponse,
)
async def multibox_detect(body: DetectRequest, pool: GeometryPool) -> Response:
    return await answer(pool, _detect, body)


def _detect(body: DetectRequest) -> DetectResponse:
    anchors = boxes_tensor(body.anchors, "anchors")
    cls_probs = torch.tensor(body.cls_probs, dtype=DTYPE).reshape(len(body.cls_probs), -1)
    offsets = torch.tensor(body.offset_preds, dtype=DTYPE).reshape(-1, 4)
    detections = ops.multibox_detection(
        cls_probs.unsqueeze(0),
        offsets.unsqueeze(0),
        anchors,
        nms_threshold=body.nms_threshold,
        pos_threshold=body.pos_threshold,
    )
    return DetectResponse(detections=finite_numbers(detections[0], "detections"))

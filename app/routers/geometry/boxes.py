"""``/geometry``: box conversion, IoU and NMS (``models.ops.boxes``)."""

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
from app.schemas.geometry.boxes import (
    BoxesResponse,
    ConvertRequest,
    IoURequest,
    IoUResponse,
    NMSRequest,
    NMSResponse,
)
from models import ops

router = geometry_router()


@router.post(
    "/convert", summary="Convert boxes between xyxy, xywh and cxcywh", response_model=BoxesResponse
)
async def convert(body: ConvertRequest, pool: GeometryPool) -> Response:
    return await answer(pool, _convert, body)


def _convert(body: ConvertRequest) -> BoxesResponse:
    boxes = boxes_tensor(body.boxes, "boxes", body.in_fmt)
    return BoxesResponse(
        boxes=finite_numbers(ops.convert_boxes(boxes, body.in_fmt, body.out_fmt), "boxes")
    )


@router.post("/iou", summary="Pairwise IoU of two sets of xyxy boxes", response_model=IoUResponse)
async def iou(body: IoURequest, pool: GeometryPool) -> Response:
    return await answer(pool, _iou, body)


def _iou(body: IoURequest) -> IoUResponse:
    result = ops.box_iou(boxes_tensor(body.boxes1, "boxes1"), boxes_tensor(body.boxes2, "boxes2"))
    return IoUResponse(iou=finite_numbers(result, "iou"))


@router.post(
    "/nms",
    summary="Non-maximum suppression, optionally per class",
    description="Indices of the kept boxes by decreasing score. With `labels`, boxes only "
    "suppress boxes of the same label (torchvision's batched_nms).",
    response_model=NMSResponse,
)
async def nms(body: NMSRequest, pool: GeometryPool) -> Response:
    return await answer(pool, _nms, body)


def _nms(body: NMSRequest) -> NMSResponse:
    boxes = boxes_tensor(body.boxes, "boxes")
    scores = torch.tensor(body.scores, dtype=DTYPE)
    labels = None if body.labels is None else torch.tensor(body.labels, dtype=torch.int64)
    keep = ops.nms(boxes, scores, body.iou_threshold, labels)
    return NMSResponse(keep=keep.tolist())

"""``/geometry``: box conversion, IoU, NMS, anchors, offset coding, multibox detection, RoI
pooling and transposed convolution over JSON.

Thin: each endpoint turns the validated body into float64 tensors, calls one op of
``models.ops`` and returns the result. The work runs on the geometry pool's own threads
(``D2L_GEOMETRY_WORKERS``), never on the event loop or the image models' threads: the JSON body
is parsed there, the op runs there and the answer is encoded there. A request is taken in
before its body is read, at most ``D2L_GEOMETRY_QUEUE`` at once (503 with ``Retry-After``
beyond), and the caps in ``app.schemas.geometry`` bound each one's cost.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated

import torch
from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel
from torch import Tensor

from app.admission import WorkPool, admitted_route, pool_admission
from app.schemas.common import BODY_ERRORS, ErrorMessage
from app.schemas.geometry import (
    AnchorsRequest,
    AnchorsResponse,
    AssignRequest,
    AssignResponse,
    BoxesResponse,
    ConvertRequest,
    ConvTransposeRequest,
    ConvTransposeResponse,
    DecodeOffsetsRequest,
    DetectRequest,
    DetectResponse,
    EncodeOffsetsRequest,
    IoURequest,
    IoUResponse,
    NMSRequest,
    NMSResponse,
    OffsetsResponse,
    RoIAlignRequest,
    RoIPoolRequest,
    RoIResponse,
)
from app.schemas.geometry_caps import (
    MAX_CONV_TRANSPOSE_MACS,
    MAX_KERNEL_ELEMENTS,
    MAX_OUTPUT_ELEMENTS,
    MAX_TENSOR_ELEMENTS,
)
from models import ops
from models.errors import InvalidInputError
from models.ops.layers import conv_transpose2d_output_size

router = APIRouter(
    prefix="/geometry",
    tags=["geometry"],
    responses={
        **BODY_ERRORS,
        503: {
            "model": ErrorMessage,
            "description": "The geometry workers are at capacity (Retry-After says when to retry).",
        },
    },
    route_class=admitted_route(pool_admission, pooled_json=True),
)

DTYPE = torch.float64  # JSON numbers are doubles: compute in double so inputs stay exact


def get_geometry_pool(request: Request) -> WorkPool:
    return request.app.state.geometry


GeometryPool = Annotated[WorkPool, Depends(get_geometry_pool)]


async def answer(pool: WorkPool, compute: Callable[..., BaseModel], *args: object) -> Response:
    """``compute(*args)`` on the pool, encoded to JSON there too (a large answer, such as 4
    million IoUs, takes a while to encode)."""

    def encoded() -> Response:
        return Response(compute(*args).model_dump_json(), media_type="application/json")

    return await pool.run(encoded)


@router.post(
    "/convert", summary="Convert boxes between xyxy, xywh and cxcywh", response_model=BoxesResponse
)
async def convert(body: ConvertRequest, pool: GeometryPool) -> Response:
    return await answer(pool, _convert, body)


def _convert(body: ConvertRequest) -> BoxesResponse:
    boxes = _boxes(body.boxes, "boxes", body.in_fmt)
    return BoxesResponse(
        boxes=_numbers(ops.convert_boxes(boxes, body.in_fmt, body.out_fmt), "boxes")
    )


@router.post("/iou", summary="Pairwise IoU of two sets of xyxy boxes", response_model=IoUResponse)
async def iou(body: IoURequest, pool: GeometryPool) -> Response:
    return await answer(pool, _iou, body)


def _iou(body: IoURequest) -> IoUResponse:
    result = ops.box_iou(_boxes(body.boxes1, "boxes1"), _boxes(body.boxes2, "boxes2"))
    return IoUResponse(iou=_numbers(result, "iou"))


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
    boxes = _boxes(body.boxes, "boxes")
    scores = torch.tensor(body.scores, dtype=DTYPE)
    labels = None if body.labels is None else torch.tensor(body.labels, dtype=torch.int64)
    keep = ops.nms(boxes, scores, body.iou_threshold, labels)
    return NMSResponse(keep=keep.tolist())


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
        total=body.total, per_pixel=body.per_pixel, anchors=_numbers(result, "anchors")
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
    anchors = _boxes(body.anchors, "anchors")
    labels = torch.tensor(body.ground_truth, dtype=DTYPE).reshape(-1, 5)
    ops.check_boxes(labels[:, 1:], "ground_truth")
    targets = ops.multibox_target(anchors, labels.unsqueeze(0), body.iou_threshold)
    return AssignResponse(
        assigned=targets.assigned[0].tolist(),
        labels=targets.classes[0].tolist(),
        offsets=_numbers(targets.offsets[0], "offsets"),
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
    anchors = _boxes(body.anchors, "anchors", allow_empty=False)
    offsets = ops.encode_offsets(anchors, _boxes(body.boxes, "boxes"))
    return OffsetsResponse(offsets=_numbers(offsets, "offsets"))


@router.post(
    "/offsets/decode", summary="Boxes from anchors and offsets", response_model=BoxesResponse
)
async def decode_offsets(body: DecodeOffsetsRequest, pool: GeometryPool) -> Response:
    return await answer(pool, _decode_offsets, body)


def _decode_offsets(body: DecodeOffsetsRequest) -> BoxesResponse:
    anchors = _boxes(body.anchors, "anchors")
    offsets = torch.tensor(body.offsets, dtype=DTYPE).reshape(-1, 4)
    return BoxesResponse(boxes=_numbers(ops.decode_offsets(anchors, offsets), "boxes"))


@router.post(
    "/detect",
    summary="Multibox detection: decode offsets, then NMS (d2l's multibox_detection)",
    description="The book's rows in the book's order; `nms_threshold` is honoured.",
    response_model=DetectResponse,
)
async def detect(body: DetectRequest, pool: GeometryPool) -> Response:
    return await answer(pool, _detect, body)


def _detect(body: DetectRequest) -> DetectResponse:
    anchors = _boxes(body.anchors, "anchors")
    cls_probs = torch.tensor(body.cls_probs, dtype=DTYPE).reshape(len(body.cls_probs), -1)
    offsets = torch.tensor(body.offset_preds, dtype=DTYPE).reshape(-1, 4)
    detections = ops.multibox_detection(
        cls_probs.unsqueeze(0),
        offsets.unsqueeze(0),
        anchors,
        nms_threshold=body.nms_threshold,
        pos_threshold=body.pos_threshold,
    )
    return DetectResponse(detections=_numbers(detections[0], "detections"))


@router.post("/roi-pool", summary="RoI max pooling (Fast R-CNN)", response_model=RoIResponse)
async def roi_pool(body: RoIPoolRequest, pool: GeometryPool) -> Response:
    return await answer(pool, _roi_pool, body)


def _roi_pool(body: RoIPoolRequest) -> RoIResponse:
    features, rois = _roi_inputs(body)
    output = ops.roi_pool(features, rois, tuple(body.output_size), body.spatial_scale)
    return RoIResponse(output=_numbers(output, "output"))


@router.post("/roi-align", summary="RoI align (Mask R-CNN)", response_model=RoIResponse)
async def roi_align(body: RoIAlignRequest, pool: GeometryPool) -> Response:
    return await answer(pool, _roi_align, body)


def _roi_align(body: RoIAlignRequest) -> RoIResponse:
    features, rois = _roi_inputs(body)
    output = ops.roi_align(
        features,
        rois,
        tuple(body.output_size),
        body.spatial_scale,
        body.sampling_ratio,
        body.aligned,
    )
    return RoIResponse(output=_numbers(output, "output"))


@router.post(
    "/conv-transpose",
    summary="Transposed convolution",
    description="d2l's semantics: padding is removed from the output, the stride spaces the "
    "intermediate results. The output has the rank of the input.",
    response_model=ConvTransposeResponse,
)
async def conv_transpose(body: ConvTransposeRequest, pool: GeometryPool) -> Response:
    return await answer(pool, _conv_transpose, body)


def _conv_transpose(body: ConvTransposeRequest) -> ConvTransposeResponse:
    inputs = _dense(body.input, "input", MAX_TENSOR_ELEMENTS)
    kernel = _dense(body.kernel, "kernel", MAX_KERNEL_ELEMENTS)
    rank = inputs.dim()
    if (rank == 2) != (kernel.dim() == 2):
        raise InvalidInputError(
            "a 2-D input takes a 2-D kernel [kh][kw]; a [C][H][W] or [N][C][H][W] input takes a "
            "[C_in][C_out][kh][kw] kernel",
            "kernel",
        )
    # Work on [N, C, H, W]; a 2-D input is one map of one channel, a 3-D one a batch of one.
    leading = {2: 2, 3: 1, 4: 0}[rank]
    batch = inputs.reshape((1,) * leading + tuple(inputs.shape))
    kernel = kernel.reshape((1,) * (4 - kernel.dim()) + tuple(kernel.shape))
    out_h, out_w = conv_transpose2d_output_size(
        tuple(batch.shape[2:]), tuple(kernel.shape[2:]), body.stride, body.padding
    )
    multiply_adds = batch.numel() * kernel.shape[1] * kernel.shape[2] * kernel.shape[3]
    if multiply_adds > MAX_CONV_TRANSPOSE_MACS:
        raise InvalidInputError(
            f"the transposed convolution takes {multiply_adds:,} multiply-adds (input values x "
            f"output channels x kernel size), over the cap of {MAX_CONV_TRANSPOSE_MACS:,}: use "
            f"a smaller input or kernel",
            "kernel",
        )
    if batch.shape[0] * kernel.shape[1] * out_h * out_w > MAX_OUTPUT_ELEMENTS:
        raise InvalidInputError(
            f"the output would hold {batch.shape[0] * kernel.shape[1] * out_h * out_w:,} "
            f"numbers, over the cap of {MAX_OUTPUT_ELEMENTS:,}: use a smaller input or stride",
            "input",
        )
    output = ops.conv_transpose2d(batch, kernel, body.stride, body.padding)
    output = output.reshape(tuple(output.shape)[leading:])
    return ConvTransposeResponse(output=_numbers(output, "output"))


def _boxes(
    values: list[list[float]], name: str, fmt: str = "xyxy", allow_empty: bool = True
) -> Tensor:
    boxes = torch.tensor(values, dtype=DTYPE).reshape(-1, 4)
    ops.check_boxes(boxes, name, fmt, allow_empty=allow_empty)
    return boxes


def _roi_inputs(body: RoIPoolRequest) -> tuple[Tensor, Tensor]:
    features = _dense(body.features, "features", MAX_TENSOR_ELEMENTS)
    if features.dim() != 4:
        raise InvalidInputError("features must be a non-empty [N][C][H][W] array", "features")
    rois = torch.tensor(body.rois, dtype=DTYPE).reshape(-1, 5)
    h, w = body.output_size
    size = rois.shape[0] * features.shape[1] * h * w
    if size > MAX_OUTPUT_ELEMENTS:
        raise InvalidInputError(
            f"the output would hold {size:,} numbers, over the cap of {MAX_OUTPUT_ELEMENTS:,}: "
            f"send fewer rois or a smaller output_size",
            "rois",
        )
    return features, rois


def _dense(values: list, name: str, max_elements: int) -> Tensor:
    """A nested list as a tensor; its size is checked from the first elements before any
    allocation, and a ragged list is refused."""
    shape: list[int] = []
    level: object = values
    while isinstance(level, list):
        shape.append(len(level))
        level = level[0] if level else None
    if math.prod(shape) == 0:
        raise InvalidInputError(f"{name} must not be empty", name)
    if math.prod(shape) > max_elements:
        raise InvalidInputError(
            f"{name} holds {math.prod(shape):,} numbers, over the cap of {max_elements:,}", name
        )
    try:
        return torch.tensor(values, dtype=DTYPE)
    except (ValueError, TypeError) as error:
        raise InvalidInputError(
            f"{name} must be a rectangular array (every row the same length): {error}", name
        ) from None


def _numbers(tensor: Tensor, name: str) -> list:
    """A float result as nested lists; results that overflowed double precision are refused
    here, since JSON has no Infinity (finite inputs near 1e308 can still overflow)."""
    if not bool(torch.isfinite(tensor).all()):
        raise InvalidInputError(
            f"{name} overflowed to a non-finite value: the inputs are too large in magnitude",
            name,
        )
    return tensor.tolist()

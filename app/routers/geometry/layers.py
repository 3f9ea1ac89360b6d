"""``/geometry``: RoI pooling and align, transposed convolution (``models.ops.layers``)."""

from __future__ import annotations

import torch
from fastapi import Response
from torch import Tensor

from app.routers.geometry.common import (
    DTYPE,
    GeometryPool,
    answer,
    dense_tensor,
    finite_numbers,
    geometry_router,
)
from app.schemas.geometry.layers import (
    ConvTransposeRequest,
    ConvTransposeResponse,
    RoIAlignRequest,
    RoIPoolRequest,
    RoIResponse,
)
from app.schemas.geometry.limits import (
    MAX_CONV_TRANSPOSE_MACS,
    MAX_KERNEL_ELEMENTS,
    MAX_OUTPUT_ELEMENTS,
    MAX_TENSOR_ELEMENTS,
)
from models import ops
from models.errors import InvalidInputError
from models.ops.layers import conv_transpose2d_output_size

router = geometry_router()


@router.post("/roi-pool", summary="RoI max pooling (Fast R-CNN)", response_model=RoIResponse)
async def roi_pool(body: RoIPoolRequest, pool: GeometryPool) -> Response:
    return await answer(pool, _roi_pool, body)


def _roi_pool(body: RoIPoolRequest) -> RoIResponse:
    features, rois = _roi_inputs(body)
    output = ops.roi_pool(features, rois, tuple(body.output_size), body.spatial_scale)
    return RoIResponse(output=finite_numbers(output, "output"))


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
    return RoIResponse(output=finite_numbers(output, "output"))


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
    inputs = dense_tensor(body.input, "input", MAX_TENSOR_ELEMENTS)
    kernel = dense_tensor(body.kernel, "kernel", MAX_KERNEL_ELEMENTS)
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
    return ConvTransposeResponse(output=finite_numbers(output, "output"))


def _roi_inputs(body: RoIPoolRequest) -> tuple[Tensor, Tensor]:
    features = dense_tensor(body.features, "features", MAX_TENSOR_ELEMENTS)
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

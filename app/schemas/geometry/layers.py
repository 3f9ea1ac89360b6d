"""Bodies of the layer endpoints: RoI pooling and align, transposed convolution
(``models.ops.layers``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from app.schemas.common import RequestModel
from app.schemas.geometry.common import (
    Matrix,
    Number,
    Positive,
    Tensor3,
    Tensor4,
    array_of_rank,
)
from app.schemas.geometry.limits import (
    MAX_KERNEL_ELEMENTS,
    MAX_PADDING,
    MAX_POOLED_SIDE,
    MAX_ROIS,
    MAX_STRIDE,
    MAX_TENSOR_ELEMENTS,
)


class RoIPoolRequest(RequestModel):
    features: list[list[list[list[Number]]]] = Field(
        description=f"[N][C][H][W] feature maps, at most {MAX_TENSOR_ELEMENTS:,} numbers."
    )
    rois: list[Annotated[list[Number], Field(min_length=5, max_length=5)]] = Field(
        max_length=MAX_ROIS,
        description=f"[[batch_index, x1, y1, x2, y2], ...] in input coordinates, at most "
        f"{MAX_ROIS:,}.",
    )
    output_size: list[Annotated[int, Field(ge=1, le=MAX_POOLED_SIDE)]] = Field(
        min_length=2, max_length=2, description="[h, w] of each pooled region."
    )
    spatial_scale: Positive = Field(
        default=1.0, description="From input coordinates to feature-map coordinates."
    )

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "features": [[[[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15]]]],
                    "rois": [[0, 0, 0, 20, 20], [0, 0, 10, 30, 30]],
                    "output_size": [2, 2],
                    "spatial_scale": 0.1,
                }
            ]
        }
    }


class RoIAlignRequest(RoIPoolRequest):
    sampling_ratio: int = Field(
        default=-1, ge=-1, le=MAX_POOLED_SIDE, description="Samples per bin side; -1: adaptive."
    )
    aligned: bool = Field(default=False, description="Shift boxes by -0.5 pixel (Detectron2).")


class ConvTransposeRequest(RequestModel):
    input: Annotated[Matrix | Tensor3 | Tensor4, array_of_rank(2, 3, 4)] = Field(
        description=f"[H][W], [C][H][W] or [N][C][H][W], at most {MAX_TENSOR_ELEMENTS:,} numbers."
    )
    kernel: Annotated[Matrix | Tensor4, array_of_rank(2, 4)] = Field(
        description="[kh][kw] for a 2-D input, else [C_in][C_out][kh][kw]; at most "
        f"{MAX_KERNEL_ELEMENTS:,} numbers."
    )
    stride: int = Field(default=1, ge=1, le=MAX_STRIDE)
    padding: int = Field(
        default=0, ge=0, le=MAX_PADDING, description="Rows/columns removed from each border."
    )

    model_config = {
        "json_schema_extra": {
            "examples": [{"input": [[0, 1], [2, 3]], "kernel": [[0, 1], [2, 3]], "stride": 1}]
        }
    }


class RoIResponse(BaseModel):
    output: Tensor4 = Field(description="[K][C][h][w]: one pooled region per RoI.")


class ConvTransposeResponse(BaseModel):
    output: Matrix | Tensor3 | Tensor4 = Field(description="Same rank as the input.")

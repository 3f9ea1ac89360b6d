"""Request and response bodies of the ``/geometry`` endpoints.

The caps (``app.schemas.geometry_caps``) bound the work one request can ask for; each is
documented in the README and in the OpenAPI descriptions, and a request over a cap is refused
before any tensor is built.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    Field,
    PlainValidator,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from app.schemas.common import STRICT_JSON, RequestModel
from app.schemas.geometry_caps import (
    MAX_ANCHOR_SHAPES,
    MAX_ASSIGN_PAIRS,
    MAX_ASSIGN_WORK,
    MAX_BOXES,
    MAX_CLASS_ROWS,
    MAX_GROUND_TRUTH,
    MAX_IOU_PAIRS,
    MAX_KERNEL_ELEMENTS,
    MAX_LISTED_ANCHORS,
    MAX_MAP_SIDE,
    MAX_NMS_BOXES,
    MAX_PADDING,
    MAX_PIXELS,
    MAX_POOLED_SIDE,
    MAX_PROBABILITIES,
    MAX_ROIS,
    MAX_STRIDE,
    MAX_TENSOR_ELEMENTS,
)
from models.ops.anchors import anchors_per_pixel

Box = Annotated[list[float], Field(min_length=4, max_length=4)]
Boxes = Annotated[list[Box], Field(max_length=MAX_BOXES)]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]
Threshold = Annotated[float, Field(ge=0.0, le=1.0)]
Matrix = list[list[float]]
Tensor3 = list[list[list[float]]]
Tensor4 = list[list[list[list[float]]]]
BoxFormatName = Literal["xyxy", "xywh", "cxcywh"]
LABEL_LIMIT = 2**31  # class labels and ids fit an int32
PixelIndex = Annotated[int, Field(ge=0, lt=MAX_MAP_SIDE)]


def _nested_list(rank: int) -> Any:
    """``list[list[...[float]]]`` of the given rank."""
    kind: Any = float
    for _ in range(rank):
        kind = list[kind]
    return kind


def _array_of_rank(*ranks: int) -> PlainValidator:
    """Validate a nested list of one of several ranks, picked by its nesting depth, so an
    error names one position (``input[1][0]``) instead of one failure per possible rank."""
    adapters = {rank: TypeAdapter(_nested_list(rank), config=STRICT_JSON) for rank in ranks}
    names = [f"{rank}-D" for rank in ranks]
    wanted = ", ".join(names[:-1]) + " or " + names[-1]

    def validate(value: Any, info: ValidationInfo) -> Any:
        depth, level = 0, value
        while isinstance(level, list):
            depth, level = depth + 1, (level[0] if level else None)
        if depth not in adapters:
            raise ValueError(f"{info.field_name} must be a {wanted} array of numbers")
        try:
            return adapters[depth].validate_python(value)
        except ValidationError as error:
            first = error.errors()[0]
            where = "".join(f"[{index}]" for index in first["loc"])
            raise ValueError(f"{info.field_name}{where}: {first['msg']}") from None

    return PlainValidator(
        validate,
        json_schema_input_type=Union[tuple(_nested_list(rank) for rank in ranks)],  # noqa: UP007
    )


def _boxes(description: str) -> object:
    return Field(description=f"{description} At most {MAX_BOXES:,} boxes.")


class ConvertRequest(RequestModel):
    boxes: Boxes = _boxes("Boxes in `in_fmt`, 4 numbers each.")
    in_fmt: BoxFormatName = Field(description="xyxy (corners), xywh (corner, size), cxcywh.")
    out_fmt: BoxFormatName

    model_config = {
        "json_schema_extra": {
            "examples": [{"boxes": [[10, 20, 30, 60]], "in_fmt": "xyxy", "out_fmt": "cxcywh"}]
        }
    }


class BoxesResponse(BaseModel):
    boxes: list[list[float]]


class IoURequest(RequestModel):
    boxes1: Boxes = _boxes("First set of xyxy boxes.")
    boxes2: Boxes = _boxes("Second set of xyxy boxes.")

    model_config = {
        "json_schema_extra": {
            "examples": [{"boxes1": [[0, 0, 2, 2]], "boxes2": [[1, 1, 3, 3], [0, 0, 2, 2]]}]
        }
    }

    @model_validator(mode="after")
    def _cap_pairs(self) -> IoURequest:
        pairs = len(self.boxes1) * len(self.boxes2)
        if pairs > MAX_IOU_PAIRS:
            raise ValueError(
                f"{len(self.boxes1)} x {len(self.boxes2)} = {pairs:,} pairs is over the cap of "
                f"{MAX_IOU_PAIRS:,}: split the request"
            )
        return self


class IoUResponse(BaseModel):
    iou: list[list[float]] = Field(description="N x M matrix: iou[i][j] of boxes1[i], boxes2[j].")


class NMSRequest(RequestModel):
    boxes: list[Box] = Field(
        max_length=MAX_NMS_BOXES,
        description=f"xyxy boxes. At most {MAX_NMS_BOXES:,} (NMS compares them pairwise).",
    )
    scores: list[float] = Field(max_length=MAX_NMS_BOXES, description="One score per box.")
    iou_threshold: Threshold = Field(
        description="A box is dropped when its IoU with a kept higher-scoring box exceeds this."
    )
    labels: list[Annotated[int, Field(ge=-LABEL_LIMIT, lt=LABEL_LIMIT)]] | None = Field(
        default=None,
        max_length=MAX_NMS_BOXES,
        description="Optional class per box: boxes only suppress boxes of their own class.",
    )

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "boxes": [[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]],
                    "scores": [0.9, 0.8, 0.7],
                    "iou_threshold": 0.5,
                }
            ]
        }
    }


class NMSResponse(BaseModel):
    keep: list[int] = Field(description="Indices of the kept boxes by decreasing score.")


class AnchorsRequest(RequestModel):
    height: int = Field(ge=1, le=MAX_MAP_SIDE, description="Rows of the image or feature map.")
    width: int = Field(ge=1, le=MAX_MAP_SIDE, description="Columns.")
    sizes: list[Annotated[float, Field(gt=0)]] = Field(
        min_length=1, max_length=MAX_ANCHOR_SHAPES, description="Anchor scales, relative."
    )
    ratios: list[Annotated[float, Field(gt=0)]] = Field(
        min_length=1, max_length=MAX_ANCHOR_SHAPES, description="Width/height ratios."
    )
    pixels: list[Annotated[list[PixelIndex], Field(min_length=2, max_length=2)]] | None = Field(
        default=None,
        max_length=MAX_PIXELS,
        description=(
            f"Optional [[row, col], ...] (at most {MAX_PIXELS:,}): only the anchors centred on "
            f"these pixels. Without it every anchor is listed, at most {MAX_LISTED_ANCHORS:,}."
        ),
    )

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "height": 561,
                    "width": 728,
                    "sizes": [0.75, 0.5, 0.25],
                    "ratios": [1, 2, 0.5],
                    "pixels": [[250, 250]],
                }
            ]
        }
    }

    @property
    def per_pixel(self) -> int:
        return anchors_per_pixel(self.sizes, self.ratios)

    @property
    def total(self) -> int:
        return self.height * self.width * self.per_pixel

    @model_validator(mode="after")
    def _cap_listing(self) -> AnchorsRequest:
        if self.pixels is None and self.total > MAX_LISTED_ANCHORS:
            raise ValueError(
                f"the map has {self.total:,} anchors, over the cap of {MAX_LISTED_ANCHORS:,} for "
                f"a full listing: pass `pixels` to get the anchors of chosen pixels"
            )
        return self


class AnchorsResponse(BaseModel):
    total: int = Field(description="Anchors in the whole map: height * width * per_pixel.")
    per_pixel: int = Field(description="len(sizes) + len(ratios) - 1.")
    anchors: list[list[float]] | list[list[list[float]]] = Field(
        description="Normalised xyxy anchors: [total][4] in row-major pixel order, or "
        "[len(pixels)][per_pixel][4] when pixels are given."
    )


class AssignRequest(RequestModel):
    anchors: Boxes = _boxes("xyxy anchors.")
    ground_truth: list[Annotated[list[float], Field(min_length=5, max_length=5)]] = Field(
        max_length=MAX_GROUND_TRUTH,
        description=f"[[class, x1, y1, x2, y2], ...], class an integer >= 0; at most "
        f"{MAX_GROUND_TRUTH:,} boxes.",
    )
    iou_threshold: Threshold = Field(
        default=0.5, description="Anchors with IoU >= this take their best box."
    )

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "anchors": [
                        [0, 0.1, 0.2, 0.3],
                        [0.15, 0.2, 0.4, 0.4],
                        [0.63, 0.05, 0.88, 0.98],
                        [0.66, 0.45, 0.8, 0.8],
                        [0.57, 0.3, 0.92, 0.9],
                    ],
                    "ground_truth": [[0, 0.1, 0.08, 0.52, 0.92], [1, 0.55, 0.2, 0.9, 0.88]],
                    "iou_threshold": 0.5,
                }
            ]
        }
    }

    @model_validator(mode="after")
    def _check_classes(self) -> AssignRequest:
        for index, row in enumerate(self.ground_truth):
            if not 0 <= row[0] < LABEL_LIMIT or row[0] != int(row[0]):
                raise ValueError(
                    f"ground_truth[{index}] has class {row[0]:g}: a class is an integer in "
                    f"[0, {LABEL_LIMIT})"
                )
        return self

    @model_validator(mode="after")
    def _cap_pairs(self) -> AssignRequest:
        anchors, boxes = len(self.anchors), len(self.ground_truth)
        if anchors * boxes > MAX_ASSIGN_PAIRS:
            raise ValueError(
                f"{anchors:,} anchors x {boxes:,} boxes is over the cap of "
                f"{MAX_ASSIGN_PAIRS:,} pairs: split the request"
            )
        # The greedy pass scans the whole IoU matrix once per box it assigns.
        if anchors * boxes * min(anchors, boxes) > MAX_ASSIGN_WORK:
            raise ValueError(
                f"{anchors:,} anchors x {boxes:,} boxes x {min(anchors, boxes):,} greedy steps "
                f"is over the cap of {MAX_ASSIGN_WORK:,}: send fewer boxes or anchors"
            )
        return self


class AssignResponse(BaseModel):
    assigned: list[int] = Field(description="Ground-truth index per anchor, -1 for none.")
    labels: list[int] = Field(description="0 for background, else the box's class + 1.")
    offsets: list[list[float]] = Field(description="A x 4 offsets to the assigned box, 0 if none.")
    mask: list[list[float]] = Field(description="A x 4: 1 where the anchor has a box, else 0.")


class EncodeOffsetsRequest(RequestModel):
    anchors: Boxes = _boxes("xyxy anchors with positive width and height.")
    boxes: Boxes = _boxes("xyxy boxes, one per anchor.")

    model_config = {
        "json_schema_extra": {
            "examples": [{"anchors": [[0.1, 0.1, 0.5, 0.5]], "boxes": [[0.2, 0.1, 0.6, 0.7]]}]
        }
    }

    @model_validator(mode="after")
    def _same_length(self) -> EncodeOffsetsRequest:
        _check_same_length(self.anchors, self.boxes, "boxes")
        return self


class OffsetsResponse(BaseModel):
    offsets: list[list[float]]


class DecodeOffsetsRequest(RequestModel):
    anchors: Boxes = _boxes("xyxy anchors.")
    offsets: list[Box] = Field(max_length=MAX_BOXES, description="4 offsets per anchor.")

    model_config = {
        "json_schema_extra": {
            "examples": [{"anchors": [[0.1, 0.1, 0.5, 0.5]], "offsets": [[2.5, 2.5, 0.0, 2.027]]}]
        }
    }

    @model_validator(mode="after")
    def _same_length(self) -> DecodeOffsetsRequest:
        _check_same_length(self.anchors, self.offsets, "offsets")
        return self


class DetectRequest(RequestModel):
    cls_probs: list[list[Probability]] = Field(
        max_length=MAX_CLASS_ROWS,
        description="(C + 1) x A class probabilities, background row first.",
    )
    offset_preds: list[Box] = Field(max_length=MAX_BOXES, description="A x 4 predicted offsets.")
    anchors: Boxes = Field(description=f"xyxy anchors. At most {MAX_NMS_BOXES:,}.")
    nms_threshold: Threshold = 0.5
    pos_threshold: Threshold = Field(
        default=0.009, description="Kept predictions below this confidence become background."
    )

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "cls_probs": [[0, 0, 0, 0], [0.9, 0.8, 0.7, 0.1], [0.1, 0.2, 0.3, 0.9]],
                    "offset_preds": [[0, 0, 0, 0]] * 4,
                    "anchors": [
                        [0.1, 0.08, 0.52, 0.92],
                        [0.08, 0.2, 0.56, 0.95],
                        [0.15, 0.3, 0.62, 0.91],
                        [0.55, 0.2, 0.9, 0.88],
                    ],
                    "nms_threshold": 0.5,
                }
            ]
        }
    }

    @model_validator(mode="after")
    def _shapes(self) -> DetectRequest:
        _check_same_length(self.anchors, self.offset_preds, "offset_preds")
        if len(self.anchors) > MAX_NMS_BOXES:
            raise ValueError(
                f"{len(self.anchors):,} anchors is over the cap of {MAX_NMS_BOXES:,}: the "
                f"suppression compares predictions pairwise; keep the top-scoring anchors"
            )
        if len(self.cls_probs) < 2:
            raise ValueError("cls_probs needs a background row and at least one class row")
        for index, row in enumerate(self.cls_probs):
            if len(row) != len(self.anchors):
                raise ValueError(
                    f"cls_probs[{index}] has {len(row)} values: it needs one per anchor "
                    f"({len(self.anchors)})"
                )
        cells = len(self.cls_probs) * len(self.anchors)
        if cells > MAX_PROBABILITIES:
            raise ValueError(
                f"cls_probs would hold {cells:,} values, over the cap of {MAX_PROBABILITIES:,}"
            )
        return self


class DetectResponse(BaseModel):
    detections: list[list[float]] = Field(
        description="One row per anchor, [class_id, score, x1, y1, x2, y2]: kept predictions "
        "by decreasing score, then the rest (class_id -1: background or suppressed)."
    )


class RoIPoolRequest(RequestModel):
    features: Tensor4 = Field(
        description=f"[N][C][H][W] feature maps, at most {MAX_TENSOR_ELEMENTS:,} numbers."
    )
    rois: list[Annotated[list[float], Field(min_length=5, max_length=5)]] = Field(
        max_length=MAX_ROIS,
        description=f"[[batch_index, x1, y1, x2, y2], ...] in input coordinates, at most "
        f"{MAX_ROIS:,}.",
    )
    output_size: list[Annotated[int, Field(ge=1, le=MAX_POOLED_SIDE)]] = Field(
        min_length=2, max_length=2, description="[h, w] of each pooled region."
    )
    spatial_scale: float = Field(
        default=1.0, gt=0, description="From input coordinates to feature-map coordinates."
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
    input: Annotated[Matrix | Tensor3 | Tensor4, _array_of_rank(2, 3, 4)] = Field(
        description=f"[H][W], [C][H][W] or [N][C][H][W], at most {MAX_TENSOR_ELEMENTS:,} numbers."
    )
    kernel: Annotated[Matrix | Tensor4, _array_of_rank(2, 4)] = Field(
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


def _check_same_length(anchors: list, other: list, name: str) -> None:
    if len(anchors) != len(other):
        raise ValueError(
            f"{name} must have one row per anchor: {len(anchors)} anchors, {len(other)} {name}"
        )

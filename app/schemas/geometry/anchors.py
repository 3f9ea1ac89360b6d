"""Bodies of the anchor endpoints: anchors, assignment, offset coding, multibox detection
(``models.ops.anchors``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, model_validator

from app.schemas.common import RequestModel
from app.schemas.geometry.common import (
    LABEL_LIMIT,
    Box,
    Boxes,
    Number,
    PixelIndex,
    Positive,
    Probability,
    Threshold,
    boxes_field,
    check_same_length,
)
from app.schemas.geometry.limits import (
    MAX_ANCHOR_SHAPES,
    MAX_ASSIGN_PAIRS,
    MAX_ASSIGN_WORK,
    MAX_BOXES,
    MAX_CLASS_ROWS,
    MAX_GROUND_TRUTH,
    MAX_LISTED_ANCHORS,
    MAX_MAP_SIDE,
    MAX_NMS_BOXES,
    MAX_PIXELS,
    MAX_PROBABILITIES,
)
from models.ops.anchors import anchors_per_pixel


class AnchorsRequest(RequestModel):
    height: int = Field(ge=1, le=MAX_MAP_SIDE, description="Rows of the image or feature map.")
    width: int = Field(ge=1, le=MAX_MAP_SIDE, description="Columns.")
    sizes: list[Positive] = Field(
        min_length=1, max_length=MAX_ANCHOR_SHAPES, description="Anchor scales, relative."
    )
    ratios: list[Positive] = Field(
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
    anchors: Boxes = boxes_field("xyxy anchors.")
    ground_truth: list[Annotated[list[Number], Field(min_length=5, max_length=5)]] = Field(
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
    anchors: Boxes = boxes_field("xyxy anchors with positive width and height.")
    boxes: Boxes = boxes_field("xyxy boxes, one per anchor.")

    model_config = {
        "json_schema_extra": {
            "examples": [{"anchors": [[0.1, 0.1, 0.5, 0.5]], "boxes": [[0.2, 0.1, 0.6, 0.7]]}]
        }
    }

    @model_validator(mode="after")
    def _same_length(self) -> EncodeOffsetsRequest:
        check_same_length(self.anchors, self.boxes, "boxes")
        return self


class OffsetsResponse(BaseModel):
    offsets: list[list[float]]


class DecodeOffsetsRequest(RequestModel):
    anchors: Boxes = boxes_field("xyxy anchors.")
    offsets: list[Box] = Field(max_length=MAX_BOXES, description="4 offsets per anchor.")

    model_config = {
        "json_schema_extra": {
            "examples": [{"anchors": [[0.1, 0.1, 0.5, 0.5]], "offsets": [[2.5, 2.5, 0.0, 2.027]]}]
        }
    }

    @model_validator(mode="after")
    def _same_length(self) -> DecodeOffsetsRequest:
        check_same_length(self.anchors, self.offsets, "offsets")
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
        check_same_length(self.anchors, self.offset_preds, "offset_preds")
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

"""Bodies of the box endpoints: conversion, IoU, NMS (``models.ops.boxes``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, model_validator

from app.schemas.common import RequestModel
from app.schemas.geometry.common import (
    LABEL_LIMIT,
    Box,
    Boxes,
    BoxFormatName,
    Number,
    Threshold,
    boxes_field,
)
from app.schemas.geometry.limits import MAX_IOU_PAIRS, MAX_NMS_BOXES


class ConvertRequest(RequestModel):
    boxes: Boxes = boxes_field("Boxes in `in_fmt`, 4 numbers each.")
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
    boxes1: Boxes = boxes_field("First set of xyxy boxes.")
    boxes2: Boxes = boxes_field("Second set of xyxy boxes.")

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
    scores: list[Number] = Field(max_length=MAX_NMS_BOXES, description="One score per box.")
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

"""Schemas of the detection endpoints."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from app.schemas.common import ImageSize

MaskFormat = Literal["polygons", "rle", "none"]


class PolygonMask(BaseModel):
    """The object's outline (``mask_format=polygons``)."""

    polygons: list[list[float]] = Field(
        description="Outer outlines of the object's parts, largest first, each [x1, y1, x2, y2, "
        "...] in the uploaded image's pixels (upright, after EXIF), at most 64 points; holes "
        "are filled. COCO's polygon segmentation."
    )


class RLEMask(BaseModel):
    """The object's pixels as COCO compressed RLE (``mask_format=rle``), as pycocotools
    writes it: decode with ``pycocotools.mask.decode({"size": size, "counts": counts})``."""

    size: tuple[int, int] = Field(description="[height, width] of the uploaded image.")
    counts: str = Field(description="COCO's compressed run-length string, column-major.")


class DetectedObject(BaseModel):
    box: tuple[float, float, float, float] = Field(
        description="[x1, y1, x2, y2] in the uploaded image's pixels."
    )
    score: float = Field(description="Class probability, in [0, 1].")
    label: str
    class_id: int
    mask: PolygonMask | RLEMask | None = Field(
        default=None,
        exclude_if=lambda mask: mask is None,
        description="Models with masks (`masks: true` in /models), unless mask_format=none: "
        "the object's pixels as outline polygons (default) or COCO RLE. Absent otherwise.",
    )


class DetectionResult(BaseModel):
    model: str
    image: ImageSize = Field(description="Size of the upload, after its EXIF orientation.")
    box_format: Literal["xyxy"] = "xyxy"
    detections: list[DetectedObject] = Field(description="By decreasing score.")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "model": "tinyssd-logo",
                    "image": {"width": 256, "height": 256},
                    "box_format": "xyxy",
                    "detections": [
                        {
                            "box": [48.2, 127.5, 90.8, 173.1],
                            "score": 0.98,
                            "label": "logo",
                            "class_id": 0,
                        }
                    ],
                }
            ]
        }
    }


class BatchDetectionResult(BaseModel):
    results: list[DetectionResult] = Field(description="One per uploaded file, in upload order.")

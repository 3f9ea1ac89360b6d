"""Schemas of the detection endpoints."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from app.schemas.common import ImageSize


class DetectedObject(BaseModel):
    box: tuple[float, float, float, float] = Field(
        description="[x1, y1, x2, y2] in the uploaded image's pixels."
    )
    score: float = Field(description="Class probability, in [0, 1].")
    label: str
    class_id: int


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

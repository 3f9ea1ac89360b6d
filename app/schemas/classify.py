"""Schemas of the classification endpoints."""

from __future__ import annotations

from pydantic import BaseModel, Field

from app.schemas.common import ImageSize


class ClassPrediction(BaseModel):
    label: str
    class_id: int = Field(description="Index of the class in the model's class list.")
    score: float = Field(description="Softmax probability, in [0, 1].")


class ClassificationResult(BaseModel):
    model: str
    image: ImageSize = Field(description="Size of the upload, after its EXIF orientation.")
    predictions: list[ClassPrediction] = Field(description="The top classes, by decreasing score.")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "model": "resnet18-hymenoptera",
                    "image": {"width": 500, "height": 375},
                    "predictions": [
                        {"label": "bees", "class_id": 1, "score": 0.93},
                        {"label": "ants", "class_id": 0, "score": 0.07},
                    ],
                }
            ]
        }
    }


class BatchClassificationResult(BaseModel):
    results: list[ClassificationResult] = Field(
        description="One per uploaded file, in upload order."
    )

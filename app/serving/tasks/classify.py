"""Image classification (``task: classify``): a fine-tuned ResNet-18, its batches, and its
endpoints ``POST /classify`` and ``POST /classify/batch``: the model's top classes for each
uploaded image, with softmax probabilities.

JPEGs are decoded at reduced size (the input is small); the images of every request join the
model's batcher, which runs them together in one forward pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Self

import torch
from fastapi import Query
from PIL import Image
from torch import Tensor

from app.schemas.classify import BatchClassificationResult, ClassificationResult, ClassPrediction
from app.schemas.common import ImageSize
from app.serving.intake import DecodedImage, PreparedImage
from app.serving.tasks.base import (
    Placement,
    require_finite,
    require_finite_weights,
    warm_up_batch,
)
from app.serving.tasks.image import ImageTask
from models.data.images import InputLimits
from models.manifest import ManifestEntry
from models.vision.classifier import ImageClassifier, Prediction


@dataclass(frozen=True)
class ClassifyJob:
    """One image for a classifier: its preprocessed input [3, S, S] and how many classes."""

    input: Tensor
    top_k: int


def top_k_option(
    top_k: Annotated[
        int,
        Query(
            ge=1,
            le=1000,
            description="How many classes to return; more than the model has gives all of them.",
        ),
    ] = 5,
) -> int:
    return top_k


class ClassifyTask(ImageTask[ClassifyJob, list[Prediction]]):
    kind: ClassVar[str] = "classify"
    title: ClassVar[str] = "classification"
    path: ClassVar[str] = "classify"
    tag: ClassVar[str] = "classification"
    summary: ClassVar[str] = "Classify an image"
    description: ClassVar[str] = (
        "The model's top classes for the uploaded image, with softmax probabilities."
    )
    batch_summary: ClassVar[str] = "Classify several images at once"
    answer_model = ClassificationResult
    batch_answer_model = BatchClassificationResult
    options = staticmethod(top_k_option)

    def __init__(self, classifier: ImageClassifier) -> None:
        self.classifier = classifier
        self.dtype = classifier.dtype

    @classmethod
    def load(cls, entry: ManifestEntry, placement: Placement) -> Self:
        classifier = ImageClassifier.load(entry.file, placement.device, placement.dtype)
        require_finite_weights(classifier.model)
        side = classifier.input_size
        blank = classifier.preprocess(Image.new("RGB", (side, side)))
        probabilities = classifier.predict(
            torch.stack(warm_up_batch(blank, placement.warm_up_batch))
        )
        require_finite([("class probabilities", probabilities)], "the warm-up's")
        return cls(classifier)

    @property
    def decode_side(self) -> int:
        return self.classifier.decode_side

    @property
    def input_limits(self) -> InputLimits:
        return self.classifier.input_limits

    def preprocess(self, image: Image.Image) -> Tensor:
        return self.classifier.preprocess(image)

    def job(self, prepared: PreparedImage, options: int) -> ClassifyJob:
        return ClassifyJob(prepared.input, options)

    def run_batch(self, jobs: Sequence[ClassifyJob]) -> list[list[Prediction]]:
        return self.classifier.classify_inputs([j.input for j in jobs], [j.top_k for j in jobs])

    def answer(
        self, model: str, decoded: DecodedImage, result: list[Prediction], options: Any = None
    ) -> ClassificationResult:
        return ClassificationResult(
            model=model,
            image=ImageSize(width=decoded.width, height=decoded.height),
            predictions=[
                ClassPrediction(label=p.label, class_id=p.class_id, score=p.score) for p in result
            ],
        )

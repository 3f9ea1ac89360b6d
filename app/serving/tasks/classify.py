"""Image classification (``task: classify``): a fine-tuned ResNet-18 and its batches."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Self

import torch
from PIL import Image
from torch import Tensor

from app.serving.tasks.base import (
    Placement,
    ServedTask,
    require_finite,
    require_finite_weights,
    warm_up_batch,
)
from models.data.images import InputLimits
from models.manifest import ManifestEntry
from models.vision.classifier import ImageClassifier, Prediction


@dataclass(frozen=True)
class ClassifyJob:
    """One image for a classifier: its preprocessed input [3, S, S] and how many classes."""

    input: Tensor
    top_k: int


class ClassifyTask(ServedTask[ClassifyJob, list[Prediction]]):
    kind: ClassVar[str] = "classify"
    title: ClassVar[str] = "classification"

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
        """The shortest side an upload needs (a JPEG may be decoded at reduced size)."""
        return self.classifier.decode_side

    @property
    def input_limits(self) -> InputLimits:
        return self.classifier.input_limits

    def preprocess(self, image: Image.Image) -> Tensor:
        return self.classifier.preprocess(image)

    def run_batch(self, jobs: Sequence[ClassifyJob]) -> list[list[Prediction]]:
        return self.classifier.classify_inputs([j.input for j in jobs], [j.top_k for j in jobs])

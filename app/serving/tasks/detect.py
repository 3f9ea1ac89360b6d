"""Object detection (``task: detect``): TinySSD or Faster R-CNN, each request with its own
thresholds in a shared batch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import ClassVar, Self

import torch
from PIL import Image
from torch import Tensor

from app.serving.failures import ModelLoadError
from app.serving.tasks.base import (
    Placement,
    ServedTask,
    TaskFacts,
    require_finite,
    require_finite_weights,
    warm_up_batch,
)
from models.data.images import InputLimits
from models.manifest import ManifestEntry
from models.vision.detection.base import (
    Detection,
    DetectionThresholds,
    ObjectDetector,
    served_thresholds,
)
from models.vision.detection.loading import load_detector
from models.vision.detection.tinyssd import TinySSDDetector


@dataclass(frozen=True)
class DetectJob:
    """One image for a detector: its preprocessed input, the size boxes are reported in
    (width, height), and the request's thresholds."""

    input: Tensor
    size: tuple[int, int]
    thresholds: DetectionThresholds


class DetectTask(ServedTask[DetectJob, list[Detection]]):
    kind: ClassVar[str] = "detect"
    title: ClassVar[str] = "detection"

    def __init__(
        self, detector: ObjectDetector, thresholds: DetectionThresholds | None = None
    ) -> None:
        self.detector = detector
        self.dtype = detector.dtype
        # What a request that names no threshold gets: the manifest's, else the defaults.
        self.thresholds = thresholds or DetectionThresholds()

    @classmethod
    def load(cls, entry: ManifestEntry, placement: Placement) -> Self:
        try:
            thresholds = served_thresholds(entry.info)
        except ValueError as error:
            raise ModelLoadError(f"the manifest entry's {error}; fix it and reload") from None
        detector = load_detector(entry.file, placement.device, placement.dtype)
        require_finite_weights(detector.model)
        size = detector.input_size
        blank = detector.preprocess(Image.new("RGB", (size, size)))
        batch = warm_up_batch(blank, placement.warm_up_batch)
        if isinstance(detector, TinySSDDetector):  # TinySSD: its raw outputs can be checked
            cls_probs, offsets = detector.predict(torch.stack(batch))
            require_finite([("class scores", cls_probs), ("offsets", offsets)], "the warm-up's")
        else:
            warm_up = [DetectionThresholds()] * len(batch)
            detector.detect_inputs(batch, [(size, size)] * len(batch), warm_up)
        return cls(detector, thresholds)

    @classmethod
    def describe(cls, entry: ManifestEntry) -> TaskFacts:
        facts = super().describe(entry)
        try:
            thresholds = asdict(served_thresholds(entry.info))
        except ValueError:  # the entry cannot load; its state and reason say why
            return facts
        return replace(facts, thresholds=thresholds)

    @property
    def input_size(self) -> int:
        return self.detector.input_size

    @property
    def decode_side(self) -> int:
        """The shortest side an upload needs (a JPEG may be decoded at reduced size)."""
        return self.detector.decode_side

    @property
    def input_limits(self) -> InputLimits:
        return self.detector.input_limits

    def preprocess(self, image: Image.Image) -> Tensor:
        return self.detector.preprocess(image)

    def run_batch(self, jobs: Sequence[DetectJob]) -> list[list[Detection]]:
        return self.detector.detect_inputs(
            [j.input for j in jobs], [j.size for j in jobs], [j.thresholds for j in jobs]
        )

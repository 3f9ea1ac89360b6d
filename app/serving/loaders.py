"""Loaders and batch runners by manifest task.

A loader builds a servable model on the device, in the configured dtype, and warms it up with a
real batch, so the first request is as fast as the others. Weights and warm-up outputs must be
finite: a checkpoint with NaN or infinite values would answer ``"score": null``, so it fails to
load instead. A batch runner is what a model's dynamic batcher calls: one forward pass for the
batch, then each request's own post-processing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import torch
from PIL import Image
from torch import Tensor, nn

from app.serving.failures import ModelLoadError
from app.serving.registry import BatchRunner, Loader, Placement
from models.manifest import ManifestEntry
from models.text.word_vectors import WordVectors
from models.vision.classifier import ImageClassifier, Prediction
from models.vision.detector import (
    Detection,
    DetectionThresholds,
    Detector,
    ObjectDetector,
    load_detector,
)

WARM_UP_BATCH = 32


@dataclass(frozen=True)
class ClassifyJob:
    """One image for a classifier: its preprocessed input [3, S, S] and how many classes."""

    input: Tensor
    top_k: int


@dataclass(frozen=True)
class DetectJob:
    """One image for a detector: its preprocessed input, the size boxes are reported in
    (width, height), and the request's thresholds."""

    input: Tensor
    size: tuple[int, int]
    thresholds: DetectionThresholds


def require_finite(tensors: Iterable[tuple[str, Tensor]], what: str) -> None:
    """Raise :class:`ModelLoadError` naming the first floating-point tensor with a NaN or an
    infinity."""
    for name, tensor in tensors:
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ModelLoadError(
                f"{what} {name} holds NaN or infinite values: the checkpoint is damaged; "
                f"restore or retrain it"
            )


def require_finite_weights(model: nn.Module) -> None:
    require_finite(model.state_dict().items(), "the weight tensor")


def load_word2vec(entry: ManifestEntry, placement: Placement) -> WordVectors:
    vectors = WordVectors.load(entry.file, placement.device)
    require_finite([("embedding", vectors.unit)], "the word vectors'")
    vectors.similar(vectors.tokens[1], 10)  # warm-up: a real query on the device
    return vectors


def load_detection(entry: ManifestEntry, placement: Placement) -> ObjectDetector:
    detector = load_detector(entry.file, placement.device, placement.dtype)
    require_finite_weights(detector.model)
    size = detector.input_size
    batch = [detector.preprocess(Image.new("RGB", (size, size)))] * WARM_UP_BATCH
    # Warm-up with a full batch: besides loading kernels, one large forward pass raises glibc's
    # dynamic mmap threshold, after which single-image passes stop paying for fresh pages
    # (TinySSD on the CPU here: 52 -> 96 images/s at batch 1).
    if isinstance(detector, Detector):  # TinySSD: its raw outputs can be checked
        cls_probs, offsets = detector.predict(torch.stack(batch))
        require_finite([("class scores", cls_probs), ("offsets", offsets)], "the warm-up's")
    else:
        thresholds = [DetectionThresholds()] * WARM_UP_BATCH
        detector.detect_inputs(batch, [(size, size)] * WARM_UP_BATCH, thresholds)
    return detector


def load_classification(entry: ManifestEntry, placement: Placement) -> ImageClassifier:
    classifier = ImageClassifier.load(entry.file, placement.device, placement.dtype)
    require_finite_weights(classifier.model)
    side = classifier.input_size  # a full batch first, for the same reason as detection's
    blank = classifier.preprocess(Image.new("RGB", (side, side)))
    probabilities = classifier.predict(torch.stack([blank] * WARM_UP_BATCH))
    require_finite([("class probabilities", probabilities)], "the warm-up's")
    return classifier


def classify_runner(
    classifier: ImageClassifier,
) -> Callable[[list[ClassifyJob]], list[list[Prediction]]]:
    def run(jobs: list[ClassifyJob]) -> list[list[Prediction]]:
        return classifier.classify_inputs([j.input for j in jobs], [j.top_k for j in jobs])

    return run


def detect_runner(detector: ObjectDetector) -> Callable[[list[DetectJob]], list[list[Detection]]]:
    def run(jobs: list[DetectJob]) -> list[list[Detection]]:
        return detector.detect_inputs(
            [j.input for j in jobs], [j.size for j in jobs], [j.thresholds for j in jobs]
        )

    return run


LOADERS: Mapping[str, Loader] = MappingProxyType(
    {"word2vec": load_word2vec, "detect": load_detection, "classify": load_classification}
)
# Word-vector queries take tens of microseconds on the event loop: batching would only add
# latency, so word2vec models have no batcher.
RUNNERS: Mapping[str, BatchRunner] = MappingProxyType(
    {"detect": detect_runner, "classify": classify_runner}
)

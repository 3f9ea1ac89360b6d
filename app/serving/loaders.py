"""Loaders and batch runners by manifest task.

A loader builds a servable model on the device, in the configured dtype, and warms it up with a
real batch, so the first request is as fast as the others. A batch runner is what a model's
dynamic batcher calls: one forward pass for the batch, then each request's own post-processing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from PIL import Image
from torch import Tensor

from app.serving.registry import BatchRunner, Loader, Placement
from models.manifest import ManifestEntry
from models.text.word_vectors import WordVectors
from models.vision.classifier import ImageClassifier, Prediction
from models.vision.detector import Detection, DetectionThresholds, ObjectDetector, load_detector

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


def load_word2vec(entry: ManifestEntry, placement: Placement) -> WordVectors:
    vectors = WordVectors.load(entry.file, placement.device)
    vectors.similar(vectors.tokens[1], 10)  # warm-up: a real query on the device
    return vectors


def load_detection(entry: ManifestEntry, placement: Placement) -> ObjectDetector:
    detector = load_detector(entry.file, placement.device, placement.dtype)
    size = detector.input_size
    # Warm-up with a full batch: besides loading kernels, one large forward pass raises glibc's
    # dynamic mmap threshold, after which single-image passes stop paying for fresh pages
    # (TinySSD on the CPU here: 52 -> 96 images/s at batch 1).
    detector.detect([Image.new("RGB", (size, size))] * WARM_UP_BATCH)
    return detector


def load_classification(entry: ManifestEntry, placement: Placement) -> ImageClassifier:
    classifier = ImageClassifier.load(entry.file, placement.device, placement.dtype)
    side = classifier.input_size  # a full batch first, for the same reason as detection's
    classifier.classify([Image.new("RGB", (side, side))] * WARM_UP_BATCH)
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

"""Loaders by manifest task: each builds a servable model on the device and warms it up, so the
first request is as fast as the others."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import torch
from PIL import Image

from app.serving.registry import Loader
from models.manifest import ManifestEntry
from models.text.word_vectors import WordVectors
from models.vision.classifier import ImageClassifier
from models.vision.detector import ObjectDetector, load_detector


def load_word2vec(entry: ManifestEntry, device: torch.device) -> WordVectors:
    vectors = WordVectors.load(entry.file, device)
    vectors.similar(vectors.tokens[1], 10)  # warm-up: a real query on the device
    return vectors


def load_detection(entry: ManifestEntry, device: torch.device) -> ObjectDetector:
    detector = load_detector(entry.file, device)
    size = detector.input_size
    # Warm-up with a full batch: besides loading kernels, one large forward pass raises glibc's
    # dynamic mmap threshold, after which single-image passes stop paying for fresh pages
    # (TinySSD on the CPU here: 52 -> 96 images/s at batch 1).
    detector.detect([Image.new("RGB", (size, size))] * 32)
    return detector


def load_classification(entry: ManifestEntry, device: torch.device) -> ImageClassifier:
    classifier = ImageClassifier.load(entry.file, device)
    # A full batch first, for the same reason as detection's warm-up.
    side = classifier.input_size
    classifier.classify([Image.new("RGB", (side, side))] * 32)
    return classifier


LOADERS: Mapping[str, Loader] = MappingProxyType(
    {"word2vec": load_word2vec, "detect": load_detection, "classify": load_classification}
)

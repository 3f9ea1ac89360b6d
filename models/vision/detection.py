"""What every detection backend shares: a detection, the thresholds a request keeps, the
protocol serving needs of a backend, and the mapping of model boxes to image pixels.

Backends (``detector.py``'s TinySSD, ``rcnn.py``'s Faster R-CNN) import this module and
nothing of each other; ``detectors.py`` picks one by a checkpoint's ``arch``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
from PIL import Image
from torch import Tensor


@dataclass(frozen=True)
class DetectionThresholds:
    """What one request keeps: class score floor, per-class NMS IoU, most boxes."""

    score_threshold: float = 0.5
    iou_threshold: float = 0.5
    max_detections: int = 100


DEFAULT_THRESHOLDS = DetectionThresholds()


@dataclass(frozen=True)
class Detection:
    box: list[float]  # xyxy in the image's pixels, clipped to it
    score: float
    class_id: int
    label: str


class ObjectDetector(Protocol):
    """What serving needs of a detection backend (TinySSD or Faster R-CNN)."""

    input_size: int
    decode_side: int  # the shorter side an upload needs
    class_names: list[str]
    dtype: torch.dtype
    model: torch.nn.Module

    def preprocess(self, image: Image.Image) -> Tensor: ...

    def detect_inputs(
        self,
        inputs: list[Tensor],
        sizes: list[tuple[int, int]],
        thresholds: list[DetectionThresholds],
    ) -> list[list[Detection]]: ...

    def detect(
        self,
        images: list[Image.Image],
        sizes: list[tuple[int, int]] | None = None,
        thresholds: DetectionThresholds = DEFAULT_THRESHOLDS,
    ) -> list[list[Detection]]: ...


def to_detections(
    boxes: Tensor,
    scores: Tensor,
    labels: Tensor,
    frame: tuple[float, float],
    size: tuple[int, int],
    class_names: list[str],
) -> list[Detection]:
    """Boxes [K, 4] in a ``frame`` of (width, height) -> Detections in the pixels of an image of
    ``size`` (width, height), clipped to it."""
    width, height = size
    scale = torch.tensor([width / frame[0], height / frame[1]] * 2, device=boxes.device)
    limit = torch.tensor([width, height, width, height], device=boxes.device)
    pixels = torch.minimum((boxes * scale).clamp(min=0), limit)
    return [
        Detection(box, score, class_id, class_names[class_id])
        for box, score, class_id in zip(
            pixels.tolist(), scores.tolist(), labels.tolist(), strict=True
        )
    ]

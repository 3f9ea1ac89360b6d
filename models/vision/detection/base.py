"""What every detection backend shares: a detection, the thresholds a request keeps, the
protocol serving needs of a backend, and the mapping of model boxes to image pixels.

Backends (``tinyssd.py``'s TinySSD, ``rcnn.py``'s Faster R-CNN) import this module and
nothing of each other; ``loading.py`` picks one by a checkpoint's ``arch``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

import torch
from PIL import Image
from torch import Tensor

from models.data.images import InputLimits
from models.ops.masks import SoftMask


@dataclass(frozen=True)
class DetectionThresholds:
    """What one request keeps: class score floor, per-class NMS IoU, most boxes, and each
    box's mask (models that predict masks; computing them costs time)."""

    score_threshold: float = 0.5
    iou_threshold: float = 0.5
    max_detections: int = 100
    masks: bool = True


DEFAULT_THRESHOLDS = DetectionThresholds()
_THRESHOLD_RANGES = {
    "score_threshold": (float, 0.0, 1.0),
    "iou_threshold": (float, 0.0, 1.0),
    "max_detections": (int, 1, 1000),
}


def served_thresholds(given: Mapping[str, Any] | None) -> DetectionThresholds:
    """The thresholds a request gets when it names none: a detector card's ``thresholds``
    (e.g. ``{"score_threshold": 0.98}``, which ``python -m models.calibrate`` writes; None:
    none), each missing one from :data:`DEFAULT_THRESHOLDS`.

    Raises:
        ValueError: ``thresholds`` is not an object, names an unknown threshold, or holds a
            value of the wrong type or out of its range.
    """
    given = {} if given is None else given
    if not isinstance(given, Mapping):
        raise ValueError(f"thresholds must be an object, got {type(given).__name__}")
    chosen: dict[str, Any] = {}
    for name, value in given.items():
        if name not in _THRESHOLD_RANGES:
            raise ValueError(
                f"thresholds: unknown {name!r}, expected some of {', '.join(_THRESHOLD_RANGES)}"
            )
        kind, low, high = _THRESHOLD_RANGES[name]
        number_types = (int, float) if kind is float else (int,)
        if isinstance(value, bool) or not isinstance(value, number_types):
            raise ValueError(f"thresholds: {name} must be a {kind.__name__}, got {value!r}")
        if not low <= value <= high:
            raise ValueError(f"thresholds: {name} must lie in [{low}, {high}], got {value!r}")
        chosen[name] = kind(value)
    return replace(DEFAULT_THRESHOLDS, **chosen)


@dataclass(frozen=True)
class Detection:
    box: list[float]  # xyxy in the image's pixels, clipped to it
    score: float
    class_id: int
    label: str
    mask: SoftMask | None = None  # over ``box`` (models with a mask branch)


class ObjectDetector(Protocol):
    """What serving needs of a detection backend (TinySSD or Faster R-CNN)."""

    input_size: int
    decode_side: int  # the shorter side an upload needs
    input_limits: InputLimits  # the smallest and most elongated image it takes
    class_names: list[str]
    dtype: torch.dtype
    model: torch.nn.Module
    has_masks: bool  # whether its detections carry masks

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
    ) -> list[list[Detection]]:
        """Preprocess and detect in one call; ``sizes`` default to the images' own. Backends
        inherit it by subclassing this protocol."""
        sizes = sizes or [image.size for image in images]
        inputs = [self.preprocess(image) for image in images]
        return self.detect_inputs(inputs, sizes, [thresholds] * len(images))


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

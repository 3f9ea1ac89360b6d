"""Every detection backend, by the ``arch`` its checkpoint records."""

from __future__ import annotations

from pathlib import Path

import torch

from models.vision.detection.base import ObjectDetector
from models.vision.detection.rcnn import RCNNDetector
from models.vision.detection.tinyssd import TinySSDDetector


def load_detector(
    path: Path, device: torch.device, dtype: torch.dtype = torch.float32
) -> ObjectDetector:
    """Any checkpoint of ``python -m models.train detect``, by its ``arch``; tensors and plain
    data only (``weights_only=True``). A Faster R-CNN computes its backbone in ``dtype``, its
    heads in float32."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if checkpoint.get("arch") in {"fasterrcnn", "maskrcnn"}:
        return RCNNDetector.from_checkpoint(checkpoint, device, dtype)
    return TinySSDDetector.from_checkpoint(checkpoint, device, dtype)

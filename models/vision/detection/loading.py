"""Every detection backend, by the ``arch`` its checkpoint records."""

from __future__ import annotations

import hashlib
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
    heads in float32. A Mask R-CNN trained on a frozen detector holds only its mask branch and
    names the detector's file (``base_detector``), read from beside it and checked by SHA-256."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if "base_detector" in checkpoint:
        checkpoint["model"] = {
            **base_weights(path, checkpoint["base_detector"]),
            **checkpoint["model"],
        }
    if checkpoint.get("arch") in {"fasterrcnn", "maskrcnn"}:
        return RCNNDetector.from_checkpoint(checkpoint, device, dtype)
    return TinySSDDetector.from_checkpoint(checkpoint, device, dtype)


def base_weights(path: Path, base: dict) -> dict:
    """The weights of the detector a mask branch was trained on: ``base["file"]`` beside
    ``path``, which must have the SHA-256 ``base["sha256"]``."""
    source = path.parent / str(base["file"])
    if not source.is_file():
        raise FileNotFoundError(f"{path} is a mask branch for {source}, which is missing")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    if digest != base["sha256"]:
        raise ValueError(
            f"{path} was trained on a detector of SHA-256 {base['sha256']}, but {source} has "
            f"{digest}: restore that file or retrain the mask branch"
        )
    return torch.load(source, map_location="cpu", weights_only=True)["model"]

"""What a detector does on real photos, through the serving path at the default thresholds.

``labelled_photos`` measures recall on hand-labelled photos (a CSV in d2l's layout plus a
``difficulty`` column, ``clear`` or ``hard``): a seal is found when a box overlaps it with IoU of
at least 0.5, and every box that overlaps no seal is a false box. ``false_alarms`` counts the
boxes on photos that hold no seal at all. Neither set is ever trained on.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from models.data.images import load_rgb, upright_size
from models.data.synthesize import IMAGE_SUFFIXES
from models.ops import box_iou
from models.train.config import DetectConfig
from models.vision.detection.base import (
    DEFAULT_THRESHOLDS,
    Detection,
    DetectionThresholds,
    ObjectDetector,
)
from models.vision.detection.rcnn import RCNNDetector
from models.vision.detection.ssd import TinySSD
from models.vision.detection.tinyssd import TinySSDDetector

LABELS = Path(__file__).resolve().parent.parent / "data" / "labels"
LABELLED_PHOTOS = LABELS / "sysu-logo-photos.csv"
FOUND_IOU = 0.5


def detect_photo(
    detector: ObjectDetector, path: Path, thresholds: DetectionThresholds
) -> list[Detection]:
    """As the service does: decoded at the detector's ``decode_side`` (JPEG draft), boxes in
    the pixels of the photo as a viewer shows it."""
    with Image.open(path) as opened:
        size = upright_size(opened)
        image = load_rgb(opened, getattr(detector, "decode_side", None))
    (found,) = detector.detect([image], [size], thresholds=thresholds)
    return found


def labelled_photos(
    detector: ObjectDetector,
    labels: Path,
    images: Path,
    thresholds: DetectionThresholds = DEFAULT_THRESHOLDS,
) -> dict[str, Any]:
    """Seals found by difficulty, false boxes, and per photo what was found."""
    seals: dict[str, list[tuple[list[float], str]]] = defaultdict(list)
    with labels.open(newline="", encoding="utf-8") as file:
        for row in csv.DictReader(file):
            box = [float(row[key]) for key in ("xmin", "ymin", "xmax", "ymax")]
            seals[row["img_name"]].append((box, row.get("difficulty") or "clear"))
    found = {"clear": 0, "hard": 0}
    total = {"clear": 0, "hard": 0}
    false_boxes = 0
    for name, wanted in sorted(seals.items()):
        detections = detect_photo(detector, images / name, thresholds)
        truth = torch.tensor([box for box, _ in wanted])
        boxes = torch.tensor([d.box for d in detections]).reshape(-1, 4)
        iou = box_iou(boxes, truth) if len(boxes) else torch.zeros(0, len(truth))
        for index, (_, difficulty) in enumerate(wanted):
            total[difficulty] += 1
            found[difficulty] += int(bool((iou[:, index] >= FOUND_IOU).any()))
        false_boxes += int((iou.max(dim=1).values < FOUND_IOU).sum()) if len(boxes) else 0
    return {
        "photos_clear_found": found["clear"],
        "photos_clear_total": total["clear"],
        "photos_hard_found": found["hard"],
        "photos_hard_total": total["hard"],
        "photos_false_boxes": false_boxes,
    }


def false_alarms(
    detector: ObjectDetector,
    folder: Path | list[Path],
    thresholds: DetectionThresholds = DEFAULT_THRESHOLDS,
) -> dict[str, Any]:
    """Boxes on photos without the seal (every image under ``folder``, or under each of a
    list), also as false boxes per 100 photos."""
    folders = folder if isinstance(folder, list) else [folder]
    files = [
        path
        for root in folders
        for path in sorted(root.rglob("*"))
        if path.suffix.lower() in IMAGE_SUFFIXES
    ]
    boxes = 0
    for path in files:
        boxes += len(detect_photo(detector, path, thresholds))
    per_100 = round(100 * boxes / len(files), 2) if files else 0.0
    return {
        "negatives_photos": len(files),
        "negatives_false_boxes": boxes,
        "negatives_false_per_100": per_100,
    }


def evaluate_photos(
    config: DetectConfig, model: torch.nn.Module, names: list[str], device: torch.device
) -> dict[str, float]:
    """Recall on the labelled real photos and false alarms on photos without the object,
    through the serving path at the default thresholds (TinySSD or Faster R-CNN)."""
    if config.photos is None and not config.negatives:
        return {}
    detector: ObjectDetector
    if isinstance(model, TinySSD):
        detector = TinySSDDetector(model, names, device, tiling=config.tiling)
    else:  # the serving wrapper keeps every candidate for the request's own thresholds
        detector = RCNNDetector(model, names, device)
    report: dict[str, float] = {}
    if config.photos is not None:
        report |= labelled_photos(detector, config.photo_labels or LABELLED_PHOTOS, config.photos)
    if config.negatives:
        report |= false_alarms(detector, config.negatives)
    return report

"""What a detector does on real photos, through the serving path at the default thresholds.

``labelled_photos`` measures recall on hand-labelled photos (a CSV in d2l's layout plus a
``difficulty`` column, ``clear`` or ``hard``): a seal is found when a box overlaps it with IoU of
at least 0.5, and every box that overlaps no seal is a false box. For a detector with masks, each
found clear seal's mask is compared with its hand-drawn outline (``sysu-logo-photo-outlines.csv``:
the seal's disc as an ellipse, fitted by eye over an enlarged crop with a pixel grid).
``false_alarms`` counts the boxes on photos that hold no seal at all. Neither set is ever trained
on.
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
from models.ops.masks import mask_to_rle, polygons_to_mask, rle_to_mask
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
GOOD_MASK_IOU = 0.75


def read_outlines(labels: Path) -> dict[str, list[list[float]]]:
    """The hand-drawn outlines beside ``labels`` (``<stem>-outlines.csv``: per photo an ellipse,
    centre, semi-axes and rotation in degrees) as a 64-point polygon each; none if absent."""
    path = labels.with_name(labels.name.replace("photos", "photo-outlines"))
    if not path.is_file() or path == labels:
        return {}
    outlines: dict[str, list[list[float]]] = defaultdict(list)
    with path.open(newline="", encoding="utf-8") as file:
        for row in csv.DictReader(file):
            cx, cy, rx, ry, angle = (float(row[k]) for k in ("cx", "cy", "rx", "ry", "angle_deg"))
            turn = torch.deg2rad(torch.tensor(angle))
            t = torch.linspace(0, 2 * torch.pi, 65)[:-1]
            xs = cx + rx * torch.cos(t) * torch.cos(turn) - ry * torch.sin(t) * torch.sin(turn)
            ys = cy + rx * torch.cos(t) * torch.sin(turn) + ry * torch.sin(t) * torch.cos(turn)
            outlines[row["img_name"]].append(torch.stack([xs, ys], dim=1).reshape(-1).tolist())
    return outlines


def _mask_iou(detection: Detection, outline: list[float], size: tuple[int, int]) -> float:
    if detection.mask is None:
        return 0.0
    found = rle_to_mask(mask_to_rle(detection.mask, size))
    drawn = polygons_to_mask([outline], size)
    return float((found & drawn).sum()) / max(1.0, float((found | drawn).sum()))


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
    """Seals found by difficulty and false boxes; for a detector with masks, the IoU of each
    outlined clear seal's mask with its outline (0 when the seal is not found)."""
    outlines = read_outlines(labels) if getattr(detector, "has_masks", False) else {}
    mask_ious: list[float] = []
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
        for outline in outlines.get(name, []):
            mask_ious.append(_outlined_seal_iou(detections, truth, iou, outline, images / name))
    report: dict[str, Any] = {
        "photos_clear_found": found["clear"],
        "photos_clear_total": total["clear"],
        "photos_hard_found": found["hard"],
        "photos_hard_total": total["hard"],
        "photos_false_boxes": false_boxes,
    }
    if mask_ious:
        report |= {
            "photos_masks_good": sum(value >= GOOD_MASK_IOU for value in mask_ious),
            "photos_masks_total": len(mask_ious),
            "photos_mask_iou_mean": round(sum(mask_ious) / len(mask_ious), 4),
            "photos_mask_iou_min": round(min(mask_ious), 4),
        }
    return report


def _outlined_seal_iou(
    detections: list[Detection],
    truth: torch.Tensor,
    iou: torch.Tensor,
    outline: list[float],
    path: Path,
) -> float:
    """The mask IoU of the detection that found the labelled seal this outline draws (the one
    its outline's box overlaps most), or 0 when none found it."""
    xs, ys = outline[0::2], outline[1::2]
    drawn_box = torch.tensor([[min(xs), min(ys), max(xs), max(ys)]])
    seal = int(box_iou(drawn_box, truth)[0].argmax())
    if not len(detections) or float(iou[:, seal].max()) < FOUND_IOU:
        return 0.0
    best = detections[int(iou[:, seal].argmax())]
    with Image.open(path) as opened:
        size = upright_size(opened)
    return _mask_iou(best, outline, size)


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

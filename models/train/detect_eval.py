"""Validation figures of the detection command: COCO mAP (torchmetrics' MeanAveragePrecision)
for both architectures, and the book's class error and bbox MAE for TinySSD."""

from __future__ import annotations

import torch
from torchmetrics.detection import MeanAveragePrecision

from models.data.detection_csv import DetectionSample
from models.ops import multibox_nms
from models.ops.masks import mask_to_rle, rle_to_mask
from models.train.detect_data import collate
from models.vision.detection.base import DetectionThresholds, ObjectDetector
from models.vision.detection.rcnn import RCNNDetector
from models.vision.detection.ssd import TinySSD, ssd_loss


@torch.no_grad()
def evaluate_rcnn(
    model: torch.nn.Module, samples: list[DetectionSample], size: int, device: torch.device
) -> dict[str, float]:
    """COCO mAP of a Faster or Mask R-CNN through its serving wrapper (and mask mAP)."""
    classes = model.roi_heads.box_predictor.cls_score.out_features - 1  # less the background
    detector = RCNNDetector(model, [f"class_{i}" for i in range(classes)], device)
    return served_map(detector, samples, size)


@torch.no_grad()
def served_map(
    detector: ObjectDetector, samples: list[DetectionSample], size: int
) -> dict[str, float]:
    """COCO mAP@0.5 and mAP@[.5:.95] of a serving detector on ``size`` x ``size`` samples, at
    the thresholds the test suite measures served models with (score 0.01, NMS 0.5, 100
    boxes): what a client gets, not a model's own post-processing. A detector with masks on
    samples with masks is also scored on them (``mask_map_50``, ``mask_map``: COCO's segm
    IoU, pycocotools)."""
    limits = DetectionThresholds(score_threshold=0.01, iou_threshold=0.5, max_detections=100)
    with_masks = detector.has_masks and all(s.masks is not None for s in samples)
    # The figures of these samples alone: under torchrun only rank 0 evaluates, and gathering
    # from processes that do not would wait forever.
    metric = MeanAveragePrecision(
        box_format="xyxy",
        iou_type=("bbox", "segm") if with_masks else "bbox",
        sync_on_compute=False,
    )
    for start in range(0, len(samples), 16):
        chosen = samples[start : start + 16]
        found = detector.detect_inputs(
            [s.image.float() / 255 for s in chosen],
            [(size, size)] * len(chosen),
            [limits] * len(chosen),
        )
        predictions, targets = [], []
        for boxes, sample in zip(found, chosen, strict=True):
            predictions.append(
                {
                    "boxes": torch.tensor([d.box for d in boxes]).reshape(-1, 4),
                    "scores": torch.tensor([d.score for d in boxes]),
                    "labels": torch.tensor([d.class_id for d in boxes], dtype=torch.long),
                }
            )
            targets.append({"boxes": sample.boxes * size, "labels": sample.labels})
            if with_masks:
                predictions[-1]["masks"] = _stack(
                    [rle_to_mask(mask_to_rle(d.mask, (size, size))) for d in boxes if d.mask], size
                )
                targets[-1]["masks"] = sample.masks.bool()
        metric.update(predictions, targets)
    scores = metric.compute()
    if not with_masks:
        return {"map_50": float(scores["map_50"]), "map": float(scores["map"])}
    return {
        "map_50": float(scores["bbox_map_50"]),
        "map": float(scores["bbox_map"]),
        "mask_map_50": float(scores["segm_map_50"]),
        "mask_map": float(scores["segm_map"]),
    }


def _stack(masks: list[torch.Tensor], size: int) -> torch.Tensor:
    return torch.stack(masks) if masks else torch.zeros(0, size, size, dtype=torch.bool)


@torch.no_grad()
def evaluate(
    model: torch.nn.Module, samples: list[DetectionSample], size: int, device: torch.device
) -> dict[str, float]:
    """COCO mAP on ``samples`` (no augmentation), and for TinySSD the book's class error and
    bbox MAE."""
    model.eval()
    if not isinstance(model, TinySSD):
        return evaluate_rcnn(model, samples, size, device)
    # These samples alone, as in served_map.
    metric = MeanAveragePrecision(box_format="xyxy", iou_type="bbox", sync_on_compute=False)
    class_error = bbox_mae = 0.0
    for start in range(0, len(samples), 64):
        chosen = samples[start : start + 64]
        images, labels = collate(chosen, None, size)
        cls_logits, offsets = model(images.to(device))
        result = ssd_loss(cls_logits, offsets, model.anchors, labels.to(device))
        class_error += result.class_error * len(chosen)
        bbox_mae += result.bbox_mae * len(chosen)
        detections = multibox_nms(
            cls_logits.softmax(dim=-1), offsets, model.anchors, 0.01, 0.5, 100
        )
        metric.update(
            [
                {"boxes": d.boxes.cpu() * size, "scores": d.scores.cpu(), "labels": d.labels.cpu()}
                for d in detections
            ],
            [{"boxes": s.boxes * size, "labels": s.labels} for s in chosen],
        )
    scores = metric.compute()
    return {
        "val_class_error": class_error / len(samples),
        "val_bbox_mae": bbox_mae / len(samples),
        "map_50": float(scores["map_50"]),
        "map": float(scores["map"]),
    }

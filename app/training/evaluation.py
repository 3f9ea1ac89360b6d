"""A finished job's model measured on the held-out split, from the file it wrote (what will be
served): classify — accuracy, per-class precision/recall/F1/support, the confusion matrix and
the majority-class baseline; detect — mAP@0.5, mAP, per-class AP and false boxes per 100
images at the served threshold; word2vec — the nearest neighbours of frequent words."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from models.data.folders import read_image_folder
from models.train.classify import logits_of
from models.train.config import ClassifyConfig, DetectConfig, TrainConfig, Word2VecConfig
from models.vision.classifier import load_classifier_file


def evaluate(config: TrainConfig, weights: Path, device: torch.device) -> dict[str, Any]:
    if isinstance(config, ClassifyConfig):
        return evaluate_classifier(Path(config.data), weights, device)
    if isinstance(config, DetectConfig):
        return evaluate_detector(config, weights, device)
    if isinstance(config, Word2VecConfig):
        return probe_words(weights)
    raise TypeError(f"no evaluation for {type(config).__name__}")


def evaluate_classifier(data: Path, weights: Path, device: torch.device) -> dict[str, Any]:
    model, card = load_classifier_file(weights)
    model = model.to(device, memory_format=torch.channels_last)
    spec = card.spec
    held_out = read_image_folder(
        data, "eval", spec.eval_transform, min_side=spec.resize_size, classes=card.classes
    )
    predicted = logits_of(model, held_out.images, spec, device).argmax(dim=1)
    return classification_report(held_out.labels, predicted, card.classes) | {
        "split": held_out.split,
        "images": len(held_out),
    }


def classification_report(
    truth: torch.Tensor, predicted: torch.Tensor, classes: list[str]
) -> dict[str, Any]:
    """Accuracy, per-class precision/recall/F1/support and the confusion matrix (rows: true
    class, columns: predicted), scikit-learn's definitions (0 where undefined)."""
    count = len(classes)
    matrix = torch.zeros(count, count, dtype=torch.long)
    for t, p in zip(truth.tolist(), predicted.tolist(), strict=True):
        matrix[t, p] += 1
    per_class = {}
    for index, name in enumerate(classes):
        hits = int(matrix[index, index])
        support = int(matrix[index].sum())
        claimed = int(matrix[:, index].sum())
        precision = hits / claimed if claimed else 0.0
        recall = hits / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1, 4),
            "support": support,
        }
    total = int(matrix.sum())
    majority = int(matrix.sum(dim=1).max()) if total else 0
    return {
        "accuracy": round(int(matrix.diag().sum()) / total, 4) if total else 0.0,
        "per_class": per_class,
        "classes": classes,
        "confusion_matrix": matrix.tolist(),
        "baseline": {
            "majority_class_accuracy": round(majority / total, 4) if total else 0.0,
        },
    }


def evaluate_detector(config: DetectConfig, weights: Path, device: torch.device) -> dict[str, Any]:
    from torchmetrics.detection import MeanAveragePrecision  # noqa: PLC0415 - train extra
    from torchvision.ops import box_iou  # noqa: PLC0415

    from models.data.detection_csv import read_detection_csv  # noqa: PLC0415
    from models.vision.detection.base import DetectionThresholds  # noqa: PLC0415
    from models.vision.detection.loading import load_detector  # noqa: PLC0415

    detector = load_detector(weights, device)
    size = config.input_size
    held_out = read_detection_csv(config.data, size, "val", config.val_fraction)
    loose = DetectionThresholds(score_threshold=0.01, iou_threshold=0.5, max_detections=100)
    served = DetectionThresholds()
    metric = MeanAveragePrecision(box_format="xyxy", class_metrics=True)
    false_boxes = 0
    for sample in held_out:
        image = [sample.image.float() / 255]
        (found,) = detector.detect_inputs(image, [(size, size)], [loose])
        boxes = torch.tensor([d.box for d in found]).reshape(-1, 4)
        scores = torch.tensor([d.score for d in found])
        labels = torch.tensor([d.class_id for d in found], dtype=torch.long)
        truth = sample.boxes * size
        metric.update(
            [{"boxes": boxes, "scores": scores, "labels": labels}],
            [{"boxes": truth, "labels": sample.labels}],
        )
        kept = boxes[scores >= served.score_threshold]
        if len(kept):
            best = box_iou(kept, truth).max(dim=1).values if len(truth) else torch.zeros(len(kept))
            false_boxes += int((best < 0.5).sum())
    scores = metric.compute()
    names = detector.class_names
    per_class = {}
    if scores["map_per_class"].numel() > 1 or scores["classes"].numel() == 1:
        for label, ap in zip(
            scores["classes"].reshape(-1).tolist(),
            scores["map_per_class"].reshape(-1).tolist(),
            strict=True,
        ):
            per_class[names[int(label)]] = {"ap": round(float(ap), 4)}
    images = len(held_out)
    return {
        "split": f"val ({config.val_fraction:g} of the images by file-name hash)",
        "images": images,
        "map_50": round(float(scores["map_50"]), 4),
        "map": round(float(scores["map"]), 4),
        "per_class": per_class,
        "score_threshold": served.score_threshold,
        "false_boxes_per_100_images": round(100 * false_boxes / images, 2) if images else 0.0,
    }


def probe_words(weights: Path) -> dict[str, Any]:
    from models.text.word_vectors import WordVectors  # noqa: PLC0415

    vectors = WordVectors.load(weights, torch.device("cpu"))
    words = vectors.tokens[1:]  # most frequent first, <unk> left out
    frequent = words[10:15] if len(words) > 15 else words[:5]
    return {
        "vocabulary": vectors.word_count,
        "neighbours": {
            word: [[n, round(s, 3)] for n, s in vectors.similar(word, 5)] for word in frequent
        },
    }

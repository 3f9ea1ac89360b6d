"""The detection command's data: the samples it trains and validates on, and their batches."""

from __future__ import annotations

from typing import Any

import torch

from models.data.detection_csv import (
    DetectionSample,
    find_label_file,
    read_detection_csv,
    read_negative_images,
)
from models.data.hub import extract, locate
from models.manifest import sha256_of
from models.train.config import MASK_ARCHS, DetectConfig
from models.vision.transforms import DetectionAugmentation


def load_detection_data(
    config: DetectConfig,
) -> tuple[list[DetectionSample], list[DetectionSample], dict[str, Any]]:
    """Training and validation samples at ``--input-size``, and where they came from (what the
    manifest records): the book's bananas, or a CSV set split by file-name hash, plus
    ``--synthetic`` sets and ``--train-negatives`` photos in training only. With
    ``--input-shape photo`` the training images keep their aspect ratio; validation images are
    square inputs either way (the mAP is measured on ``size`` x ``size`` frames)."""
    size = config.input_size
    keep = config.input_shape == "photo"
    masks = config.arch in MASK_ARCHS
    if config.data is None:  # the book's bananas: train and validation folders of their own
        root = extract(locate("banana-detection"), "banana-detection")
        train_dir = next(root.glob("**/bananas_train"))
        val_dir = config.val_data or next(root.glob("**/bananas_val"))
        source = {
            "file": "banana-detection.zip",
            "sha1": "5de26c8fce5ccdea9f91267273464dc968d20d72",
        }
        train = read_detection_csv(train_dir, size, keep_aspect=keep)
        return train, read_detection_csv(val_dir, size), source
    source = {
        "folder": config.data.name,
        "label_csv_sha256": sha256_of(find_label_file(config.data)),
    }
    if config.val_data is not None:
        train = read_detection_csv(config.data, size, keep_aspect=keep, with_masks=masks)
        return train, read_detection_csv(config.val_data, size, with_masks=masks), source
    source["split"] = f"sha256(file name) < {config.val_fraction} of 2^64 is validation"
    train = read_detection_csv(config.data, size, "train", config.val_fraction, keep, masks)
    for folder in config.synthetic:
        train += read_detection_csv(folder, size, keep_aspect=keep, with_masks=masks)
        label_file = find_label_file(folder)
        source.setdefault("synthetic", []).append(
            {"folder": folder.name, "label_csv_sha256": sha256_of(label_file)}
        )
    for folder in config.train_negatives:
        negatives = read_negative_images(folder, size, keep, masks)
        train += negatives
        entry = {"folder": f"{folder.parent.name}/{folder.name}", "images": len(negatives)}
        source.setdefault("negatives", []).append(entry)
    val = read_detection_csv(config.data, size, "val", config.val_fraction, with_masks=masks)
    return train, val, source


def rcnn_batch(
    samples: list[DetectionSample], augment: DetectionAugmentation | None
) -> tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]:
    """A Faster (or Mask) R-CNN batch: float images [3, H, W] in [0, 1], each of its own shape,
    and torchvision's targets (pixel xyxy boxes, classes from 1: 0 is the background; the
    samples' masks where they have them)."""
    images, targets = [], []
    for sample in samples:
        if augment is not None:
            sample = augment.sample(sample)
        image = sample.image
        height, width = image.shape[-2:]
        scale = torch.tensor([width, height, width, height], dtype=torch.float32)
        images.append(image.float() / 255)
        target = {"boxes": sample.boxes.float() * scale, "labels": sample.labels.long() + 1}
        if sample.masks is not None:
            target["masks"] = sample.masks
        targets.append(target)
    return images, targets


def collate(
    samples: list[DetectionSample], augment: DetectionAugmentation | None, size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch: images [B, 3, S, S] in [0, 1] and labels [B, G, 5] padded with class -1."""
    images, rows = [], []
    for sample in samples:
        image, boxes, labels = sample.image, sample.boxes, sample.labels
        if augment is not None:
            image, boxes, labels = augment(image, boxes, labels)
        images.append(image)
        rows.append(torch.cat((labels.unsqueeze(1).float(), boxes), dim=1))
    most = max(1, max(len(r) for r in rows))
    padded = torch.full((len(rows), most, 5), -1.0)
    for index, row in enumerate(rows):
        padded[index, : len(row)] = row
    return torch.stack(images).float() / 255, padded

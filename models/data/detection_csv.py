"""Detection data in d2l's CSV layout: ``label.csv`` with ``img_name,label,xmin,ymin,xmax,ymax``
(pixel corners, label ids from 0), the images beside it or in ``images/``.

Images of any size are resized to the model's square input (TinySSD), or with ``keep_aspect`` to
their shorter side at the input size (Faster R-CNN, which serves photos that way); boxes are kept
normalised to [0, 1], so they follow the resize for free. Every image is decoded once and kept in
memory as uint8 (900 images of 256x256 take 177 MB).
"""

from __future__ import annotations

import csv
import hashlib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image
from torch import Tensor
from torchvision.transforms.v2 import functional as TF

from models.data.hub import DataError


@dataclass(frozen=True)
class DetectionSample:
    name: str
    image: Tensor  # uint8 [3, S, S], or [3, H, W] with the shorter side S (keep_aspect)
    boxes: Tensor  # float32 [G, 4] normalised xyxy
    labels: Tensor  # int64 [G]
    masks: Tensor | None = None  # uint8 [G, H, W] of the image's shape, 1 inside (Mask R-CNN)


def find_label_file(root: Path) -> Path:
    for candidate in (root / "label.csv", *sorted(root.glob("*/label.csv"))):
        if candidate.is_file():
            return candidate
    raise DataError(f"{root} holds no label.csv (d2l's detection layout)")


def fit_to_input(image: Tensor, size: int, keep_aspect: bool = False) -> Tensor:
    """uint8 [3, H, W] -> [3, size, size], or with ``keep_aspect`` the shorter side at ``size``
    and the longer at most ``2 * size``: what torchvision's detection transform makes of an image
    with ``min_size=size, max_size=2*size``, so a detector trains on the shapes it serves."""
    if keep_aspect:
        return TF.resize(image, [size], max_size=2 * size, antialias=True)
    return TF.resize(image, [size, size], antialias=True)


def validation_split(name: str, fraction: float) -> bool:
    """Whether ``name`` is in the validation split: a hash of the file name, so the split is
    the same on every machine and does not move when images are added."""
    digest = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big")
    return digest / 2**64 < fraction


def read_detection_csv(
    root: Path,
    size: int,
    split: str = "all",
    val_fraction: float = 0.1,
    keep_aspect: bool = False,
    with_masks: bool = False,
) -> list[DetectionSample]:
    """Samples of ``root``, resized by :func:`fit_to_input`.

    Args:
        root: folder holding ``label.csv`` (or one sub-folder holding it).
        size: input side of the model.
        split: ``train``, ``val`` (by :func:`validation_split`) or ``all``.
        val_fraction: share of images in the validation split.
        keep_aspect: keep each image's aspect ratio (shorter side ``size``).
        with_masks: read each object's mask from ``masks/<image stem>.png`` beside
            ``label.csv``: one "L" image where value k + 1 marks the image's k-th CSV row
            (what ``python -m models.data.synthesize`` writes).
    """
    if split not in {"train", "val", "all"}:
        raise DataError(f"split must be train, val or all, got {split!r}")
    label_file = find_label_file(root)
    rows: dict[str, list[list[float]]] = defaultdict(list)
    with label_file.open(newline="", encoding="utf-8") as file:
        for row in csv.DictReader(file):
            rows[row["img_name"]].append(
                [float(row[key]) for key in ("label", "xmin", "ymin", "xmax", "ymax")]
            )
    samples = []
    for name in sorted(rows):
        in_val = validation_split(name, val_fraction)
        if (split == "val" and not in_val) or (split == "train" and in_val):
            continue
        path = label_file.parent / "images" / name
        if not path.is_file():
            path = label_file.parent / name
        with Image.open(path) as opened:
            image = TF.pil_to_tensor(opened.convert("RGB"))
        height, width = image.shape[-2:]
        table = torch.tensor(rows[name], dtype=torch.float32)
        scale = torch.tensor([width, height, width, height], dtype=torch.float32)
        resized = fit_to_input(image, size, keep_aspect)
        masks = None
        if with_masks:
            masks = read_instance_masks(
                label_file.parent / "masks" / f"{Path(name).stem}.png",
                len(table),
                (height, width),
                tuple(resized.shape[-2:]),
            )
        samples.append(
            DetectionSample(
                name=name,
                image=resized,
                boxes=(table[:, 1:] / scale).clamp(0, 1),
                labels=table[:, 0].long(),
                masks=masks,
            )
        )
    if not samples:
        raise DataError(f"{label_file} lists no image in the {split} split")
    return samples


def read_instance_masks(
    path: Path, count: int, image_size: tuple[int, int], size: tuple[int, int]
) -> Tensor:
    """The ``count`` objects' masks of an instance map (value k + 1 = object k) whose image is
    ``image_size`` (height, width), resized to ``size``: uint8 [count, *size], 1 inside."""
    if not path.is_file():
        raise DataError(
            f"{path} is missing: Mask R-CNN needs a mask per image (masks/<image stem>.png, "
            "value k + 1 for the image's k-th row; python -m models.data.synthesize writes them)"
        )
    with Image.open(path) as opened:
        instances = TF.pil_to_tensor(opened.convert("L"))
    if tuple(instances.shape[-2:]) != image_size:
        raise DataError(
            f"{path} is {instances.shape[-1]}x{instances.shape[-2]}, its image "
            f"{image_size[1]}x{image_size[0]}"
        )
    instances = TF.resize(instances, list(size), interpolation=TF.InterpolationMode.NEAREST)
    ids = torch.arange(1, count + 1, dtype=torch.uint8).view(-1, 1, 1)
    return (instances == ids).to(torch.uint8)


IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})


def read_negative_images(
    root: Path, size: int, keep_aspect: bool = False, with_masks: bool = False
) -> list[DetectionSample]:
    """Every image under ``root`` (any depth) as a sample without objects, resized by
    :func:`fit_to_input`: photos known not to hold the object teach a detector what to leave
    alone (``with_masks``: with an empty mask stack, as Mask R-CNN batches want)."""
    paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise DataError(f"{root} holds no image ({', '.join(sorted(IMAGE_SUFFIXES))})")
    samples = []
    for path in paths:
        with Image.open(path) as opened:
            image = TF.pil_to_tensor(opened.convert("RGB"))
        resized = fit_to_input(image, size, keep_aspect)
        samples.append(
            DetectionSample(
                name=str(path.relative_to(root)),
                image=resized,
                boxes=torch.zeros(0, 4),
                labels=torch.zeros(0, dtype=torch.int64),
                masks=torch.zeros(0, *resized.shape[-2:], dtype=torch.uint8)
                if with_masks
                else None,
            )
        )
    return samples

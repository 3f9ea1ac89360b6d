"""Detection sets: d2l's ``label.csv`` (``img_name,label,xmin,ymin,xmax,ymax``, pixel corners;
labels as integers or class names) with the images in ``images/`` or beside it, or COCO
(``annotations.json``: ``images``, ``annotations`` with ``bbox`` [x, y, w, h], ``categories``).
Written as ``images/`` + ``label.csv`` with label ids indexing ``classes.json``, the layout
``python -m models.train detect --data`` reads. Images without a box stay: they teach the
detector what is not an object."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

from app.serving.intake import ImageLimits
from app.training.uploads import (
    DatasetError,
    SizeTally,
    Skipped,
    check_image,
    is_image_name,
    relative,
    set_root,
)

COLUMNS = ["img_name", "label", "xmin", "ymin", "xmax", "ymax"]
EDGE = 1.0  # pixels a corner may lie past the image's edge (rounding of the tool that drew it)


def build_detection_set(unpacked: Path, target: Path, limits: ImageLimits) -> dict[str, Any]:
    """Check the detection set unpacked in ``unpacked`` and write it to ``target``; its
    summary. Raises :class:`DatasetError` when it cannot be trained on."""
    root = set_root(unpacked)
    label_file = _one_of(root, ["label.csv", "labels.csv"])
    coco_file = _one_of(root, ["annotations.json", "instances.json", "_annotations.coco.json"])
    if label_file is not None:
        layout, rows, classes = "d2l label.csv", *_read_csv(label_file)
    elif coco_file is not None:
        layout, rows, classes = "COCO annotations.json", *_read_coco(coco_file)
    else:
        raise DatasetError(
            "unknown layout: a detection set is a zip of images/ and label.csv "
            "(img_name,label,xmin,ymin,xmax,ymax in pixels), or of images and a COCO "
            "annotations.json"
        )
    folder = root / "images" if (root / "images").is_dir() else root
    skipped, sizes = Skipped(), SizeTally()
    boxes: dict[str, list[tuple[int, list[float]]]] = {}
    for _, (name, label, box) in rows:
        boxes.setdefault(name, []).append((label, box))
    images: dict[str, tuple[int, int]] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_dir() or path in {label_file, coco_file}:
            continue
        name = relative(path, folder)
        if not is_image_name(path):
            skipped.add(relative(path, root), "not an image file")
            continue
        found = check_image(path, limits)
        if isinstance(found, str):
            skipped.add(relative(path, root), found)
            boxes.pop(name, None)
            continue
        images[name] = found
    missing = sorted(set(boxes) - set(images))
    for name in missing:
        skipped.add(name, "labelled, but no such image can be read in the archive")
        del boxes[name]
    if not boxes:
        raise DatasetError(
            "no labelled image of the set can be read: label.csv's img_name (or COCO's "
            "file_name) must name image files of the archive"
        )
    for name, found in boxes.items():
        width, height = images[name]
        for _, (x1, y1, x2, y2) in found:
            if x1 < -EDGE or y1 < -EDGE or x2 > width + EDGE or y2 > height + EDGE:
                raise DatasetError(
                    f"a box of {name[:80]!r} ({x1:g}, {y1:g}, {x2:g}, {y2:g}) lies outside the "
                    f"{width}x{height} image: boxes are pixel corners inside the image"
                )
    (target / "images").mkdir(parents=True)
    with (target / "label.csv").open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        for index, (name, size) in enumerate(sorted(images.items())):
            stored = f"{index:06d}{Path(name).suffix.lower()}"
            (folder / name).replace(target / "images" / stored)
            sizes.add(*size)
            width, height = size
            for label, (x1, y1, x2, y2) in boxes.get(name, []):
                corners = (max(0.0, x1), max(0.0, y1), min(width, x2), min(height, y2))
                writer.writerow([stored, label, *(f"{v:g}" for v in corners)])
    (target / "classes.json").write_text(json.dumps(classes))
    per_class = [0] * len(classes)
    for found in boxes.values():
        for label, _ in found:
            per_class[label] += 1
    return {
        "layout": layout,
        "classes": classes,
        "counts": {"boxes": dict(zip(classes, per_class, strict=True))},
        "images": len(images),
        "images_without_boxes": len(images) - len(boxes),
        "validation": "a deterministic split of the images (by file-name hash), chosen by the job",
        "image_sizes": sizes.as_dict(),
        "skipped": skipped.as_dict(),
    }


def _one_of(root: Path, names: list[str]) -> Path | None:
    return next((root / name for name in names if (root / name).is_file()), None)


Row = tuple[int, tuple[str, int, list[float]]]


def _read_csv(path: Path) -> tuple[list[Row], list[str]]:
    """Rows of a d2l label.csv (line number, image, label index, xyxy) and the class names."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as file:
            table = list(csv.reader(file))
    except (UnicodeDecodeError, csv.Error) as error:
        raise DatasetError(f"{path.name} is not a UTF-8 CSV file ({error})") from None
    if not table or [c.strip().lower() for c in table[0]] != COLUMNS:
        raise DatasetError(f"{path.name} must start with the header {','.join(COLUMNS)}")
    raw: list[tuple[int, str, str, list[float]]] = []
    for line, cells in enumerate(table[1:], start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(COLUMNS):
            raise DatasetError(f"{path.name} line {line}: {len(cells)} cells, not 6")
        name, label, *corners = (c.strip() for c in cells)
        raw.append((line, name, label, _corners(path.name, line, corners)))
    if not raw:
        raise DatasetError(f"{path.name} has no rows: label at least one box")
    labels = {label for _, _, label, _ in raw}
    numeric = all(label.isdigit() for label in labels)
    classes = sorted(labels, key=int) if numeric else sorted(labels)
    index = {label: i for i, label in enumerate(classes)}
    return [(line, (name, index[label], box)) for line, name, label, box in raw], classes


def _corners(file: str, line: int, corners: list[str]) -> list[float]:
    try:
        values = [float(v) for v in corners]
    except ValueError:
        raise DatasetError(f"{file} line {line}: the corners must be numbers") from None
    x1, y1, x2, y2 = values
    if not all(math.isfinite(v) for v in values) or x2 <= x1 or y2 <= y1:
        raise DatasetError(
            f"{file} line {line}: a box needs xmin < xmax and ymin < ymax (pixel corners)"
        )
    return values


def _coco_name(name: str) -> str:
    """COCO's file_name as this module names images: relative to images/ when it is there."""
    name = name.replace("\\", "/")
    return name.removeprefix("images/")


def _read_coco(path: Path) -> tuple[list[Row], list[str]]:
    """Boxes of a COCO detection file (crowd regions left out) as d2l rows."""
    try:
        coco = json.loads(path.read_text(encoding="utf-8"))
        images = {int(i["id"]): _coco_name(str(i["file_name"])) for i in coco["images"]}
        categories = {int(c["id"]): str(c["name"]) for c in coco["categories"]}
        annotations = list(coco["annotations"])
    except (ValueError, KeyError, TypeError) as error:
        raise DatasetError(
            f"{path.name} is not COCO detection JSON (images, annotations, categories): "
            f"{type(error).__name__}"
        ) from None
    classes = sorted(set(categories.values()))
    index = {name: i for i, name in enumerate(classes)}
    rows: list[Row] = []
    for number, item in enumerate(annotations, start=1):
        if item.get("iscrowd"):
            continue
        try:
            x, y, w, h = (float(v) for v in item["bbox"])
            name = images[int(item["image_id"])]
            label = index[categories[int(item["category_id"])]]
        except (KeyError, ValueError, TypeError):
            raise DatasetError(
                f"{path.name} annotation {number}: needs bbox [x, y, w, h], an image_id of "
                "images and a category_id of categories"
            ) from None
        rows.append((number, (name, label, _corners(path.name, number, [x, y, x + w, y + h]))))
    if not rows:
        raise DatasetError(f"{path.name} has no annotations: label at least one box")
    return rows, classes

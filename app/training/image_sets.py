"""Classification sets: ``train/<class>/*`` (with ``val/<class>/*`` or ``test/<class>/*``
when the user holds images out), or ``<class>/*`` alone; written as ``train/<class>/*`` (and
``val/<class>/*``), the layout ``python -m models.train classify --data`` reads."""

from __future__ import annotations

import shutil
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
from models.data.folders import EVAL_SPLITS


def build_image_set(unpacked: Path, target: Path, limits: ImageLimits) -> dict[str, Any]:
    """Check the classification set unpacked in ``unpacked`` and write it to ``target``;
    its summary. Raises :class:`DatasetError` when it cannot be trained on."""
    root = set_root(unpacked)
    folders = {p.name: p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")}
    skipped = Skipped()
    if "train" in folders:
        layout = "train/<class>/<image>"
        held_out = next((name for name in EVAL_SPLITS if name in folders), None)
        splits = {"train": folders["train"], **({"val": folders[held_out]} if held_out else {})}
        for name, folder in folders.items():
            if name not in {"train", held_out}:
                skipped.add(relative(folder, root) + "/", "not train/ or val/ (or test/)")
    else:
        layout = "<class>/<image>"
        splits = {"train": root}
    for path in sorted(root.iterdir()):
        if path.is_file():
            skipped.add(relative(path, root), "a file outside the class folders")
    counts: dict[str, dict[str, int]] = {}
    sizes = SizeTally()
    for split, folder in splits.items():
        counts[split] = _copy_split(folder, root, target / split, limits, skipped, sizes)
    classes = sorted(name for name, count in counts["train"].items() if count)
    if not classes:
        raise DatasetError(
            "the archive holds no images that can be read in class folders: send a zip of "
            "<class>/<image> folders (or train/<class>/<image>)"
        )
    if len(classes) < 2:
        raise DatasetError(
            f"the set has one class only ({classes[0]!r}): a classifier needs at least two "
            "class folders with images"
        )
    empty = sorted(name for name, count in counts["train"].items() if not count)
    for name in empty:
        shutil.rmtree(target / "train" / name, ignore_errors=True)
    if "val" in counts:
        unknown = sorted({name for name, count in counts["val"].items() if count} - set(classes))
        if unknown:
            raise DatasetError(
                f"the held-out split has classes the training split lacks: {unknown[:5]}: "
                "give each of them training images, or remove them"
            )
        if not any(counts["val"].values()):
            shutil.rmtree(target / "val", ignore_errors=True)
            del counts["val"]
    return {
        "layout": layout,
        "classes": classes,
        "counts": {
            split: {c: n for c, n in sorted(by.items()) if n} for split, by in counts.items()
        },
        "images": sum(sum(by.values()) for by in counts.values()),
        "validation": "the set's own held-out split"
        if "val" in counts
        else "a deterministic split of the training images (by file-name hash), chosen by the job",
        "image_sizes": sizes.as_dict(),
        "skipped": skipped.as_dict(),
    }


def _copy_split(
    folder: Path,
    root: Path,
    target: Path,
    limits: ImageLimits,
    skipped: Skipped,
    sizes: SizeTally,
) -> dict[str, int]:
    """Move each readable image of ``folder/<class>/`` to ``target/<class>/``; counts per class."""
    counts: dict[str, int] = {}
    for class_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        if class_dir.name.startswith("."):
            continue
        counts.setdefault(class_dir.name, 0)
        for path in sorted(class_dir.rglob("*")):
            if path.is_dir():
                continue
            name = relative(path, root)
            if path.parent != class_dir:
                skipped.add(name, "in a sub-folder of a class folder")
                continue
            if not is_image_name(path):
                skipped.add(name, "not an image file (.jpg, .jpeg, .png, .bmp, .gif, .webp)")
                continue
            found = check_image(path, limits)
            if isinstance(found, str):
                skipped.add(name, found)
                continue
            sizes.add(*found)
            destination = target / class_dir.name / path.name
            destination.parent.mkdir(parents=True, exist_ok=True)
            path.replace(destination)
            counts[class_dir.name] += 1
    for path in sorted(folder.iterdir()):
        if path.is_file() and folder != root:
            skipped.add(relative(path, root), "a file outside the class folders")
    return counts

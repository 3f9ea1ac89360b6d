"""Image classification sets in the ImageFolder layout, read into memory once.

A set is a folder (or a zip of one) holding ``train/<class>/<image>`` and ``val/<class>/...`` or
``test/<class>/...``, possibly one folder down (``cifar10/train/...`` in the CIFAR-10 zip).
Classes are the sorted folder names of the training split, as torchvision's ImageFolder has
them. Small sets fit in memory decoded, which keeps the CPU busy with the model rather than
with JPEG decoding every epoch.

Sets on the data hub (``hymenoptera``, ``hotdog``) are found unpacked under $D2L_DATA_DIR or
as their verified archive, downloaded once. CIFAR-10 is found as
``$D2L_DATA_DIR/cifar10/cifar10-jpeg.zip`` (SHA-1 checked) or, on a networked host, through
torchvision's ``CIFAR10(download=True)``, the canonical route.
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image
from torch import Tensor
from torchvision.transforms.v2 import functional as TF

from models.data.hub import DATA_HUB, Archive, DataError, cache_dir, locate, verify
from models.data.images import read_rgb

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"}
EVAL_SPLITS = ("val", "test")

CIFAR10_ZIP = Archive(
    file="cifar10-jpeg.zip",
    sha1="0e257a43ce0e77eef6a788558a872576733dfa35",
    folder="cifar10",
    url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",  # via torchvision
)


@dataclass(frozen=True)
class LabelledImages:
    """``images``: uint8 tensors [3, H, W] (sizes may differ); ``labels`` [N] index ``classes``;
    ``files`` name each image within its set."""

    images: list[Tensor]
    labels: Tensor
    classes: list[str]
    files: list[str]
    split: str  # train, val or test

    def __len__(self) -> int:
        return len(self.images)


@dataclass(frozen=True)
class FolderEntry:
    split: str
    label: str
    name: str  # path within the set, e.g. "train/ants/0013035.jpg"
    open: Callable[[], io.BufferedIOBase]


def list_entries(source: Path) -> list[FolderEntry]:
    """Every image of ``source`` (a folder or a .zip) as split/class/file entries."""
    if source.is_file() and source.suffix == ".zip":
        return list(_zip_entries(source))
    if not source.is_dir():
        raise DataError(f"{source} is neither a folder nor a .zip of an ImageFolder set")
    return list(_dir_entries(source))


def _split_class(parts: tuple[str, ...]) -> tuple[str, str] | None:
    if len(parts) >= 3 and parts[-3] in ("train", *EVAL_SPLITS):
        return parts[-3], parts[-2]
    return None


def _dir_entries(root: Path) -> Iterator[FolderEntry]:
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).parts
        found = _split_class(relative)
        if found and len(relative) <= 4 and path.suffix.lower() in IMAGE_SUFFIXES:
            yield FolderEntry(*found, "/".join(relative[-3:]), lambda p=path: p.open("rb"))


def _zip_entries(path: Path) -> Iterator[FolderEntry]:
    bundle = zipfile.ZipFile(path)
    for name in sorted(bundle.namelist()):
        parts = tuple(name.split("/"))
        found = _split_class(parts)
        if found and len(parts) <= 4 and Path(name).suffix.lower() in IMAGE_SUFFIXES:
            yield FolderEntry(
                *found, "/".join(parts[-3:]), lambda n=name: io.BytesIO(bundle.read(n))
            )


def read_image_folder(
    source: Path,
    split: str,
    prepare: Callable[[Image.Image], Tensor] | None = None,
    min_side: int | None = None,
    classes: list[str] | None = None,
) -> LabelledImages:
    """Decode one split of ``source`` into memory.

    Args:
        source: folder or .zip in the ImageFolder layout.
        split: ``train``, or ``eval`` for whichever of ``val``/``test`` the set has.
        prepare: turns each decoded RGB image into the uint8 tensor kept (default: as is).
        min_side: JPEGs may be decoded at reduced scale down to this shorter side.
        classes: the class list to index by (default: the split's sorted folder names).
    """
    entries = list_entries(source)
    splits = {entry.split for entry in entries}
    if split == "eval":
        present = [name for name in EVAL_SPLITS if name in splits]
        if not present:
            raise DataError(f"{source} has no val/ or test/ folder of class folders")
        split = present[0]
    chosen = [entry for entry in entries if entry.split == split]
    if not chosen:
        raise DataError(f"{source} has no {split}/<class>/<image> files")
    classes = classes or sorted({entry.label for entry in chosen})
    unknown = sorted({entry.label for entry in chosen} - set(classes))
    if unknown:
        raise DataError(f"{source}/{split} has classes not in training: {unknown}")
    prepare = prepare or TF.pil_to_tensor
    images, labels = [], []
    for entry in chosen:
        with entry.open() as file:
            try:
                images.append(prepare(read_rgb(file, min_side)))
            except (OSError, SyntaxError, ValueError) as error:
                raise DataError(f"{entry.name} cannot be decoded: {error}") from None
        labels.append(classes.index(entry.label))
    return LabelledImages(images, torch.tensor(labels), classes, [e.name for e in chosen], split)


def resolve_image_folder(data: str, data_dir: Path | None = None) -> Path:
    """``data`` as a path, or a data hub name (``hymenoptera``, ``hotdog``): the unpacked folder
    under $D2L_DATA_DIR when it is there, else the archive (verified; downloaded once)."""
    if data not in DATA_HUB:
        return Path(data)
    data_dir = data_dir or (
        Path(os.environ["D2L_DATA_DIR"]) if "D2L_DATA_DIR" in os.environ else None
    )
    if data_dir is not None and (data_dir / DATA_HUB[data].folder / "train").is_dir():
        return data_dir / DATA_HUB[data].folder
    return locate(data, data_dir=data_dir)


def locate_cifar10(data_dir: Path | None = None) -> Path | None:
    """The local CIFAR-10 zip (verified), or None when there is none."""
    data_dir = data_dir or (
        Path(os.environ["D2L_DATA_DIR"]) if "D2L_DATA_DIR" in os.environ else None
    )
    if data_dir is None:
        return None
    for candidate in (
        data_dir / CIFAR10_ZIP.folder / CIFAR10_ZIP.file,
        data_dir / CIFAR10_ZIP.file,
    ):
        if candidate.is_file():
            return verify(candidate, CIFAR10_ZIP)
    return None


def download_cifar10(
    split: str, prepare: Callable[[Image.Image], Tensor] | None = None
) -> LabelledImages:
    """CIFAR-10 through torchvision (downloaded once into the cache): 50,000 train or 10,000
    test images."""
    from torchvision.datasets import CIFAR10  # noqa: PLC0415 - networked route only

    try:
        dataset = CIFAR10(cache_dir() / "cifar10", train=split == "train", download=True)
    except OSError as error:
        raise DataError(
            f"CIFAR-10 is not available locally and the download failed ({error}): put "
            f"cifar10-jpeg.zip in $D2L_DATA_DIR/cifar10/ or pass --data"
        ) from None
    prepare = prepare or TF.pil_to_tensor
    images = [prepare(Image.fromarray(array)) for array in dataset.data]
    names = [f"{split}/{dataset.classes[t]}/{i:05d}" for i, t in enumerate(dataset.targets)]
    return LabelledImages(
        images, torch.tensor(dataset.targets), list(dataset.classes), names, split
    )

"""What every uploaded data set goes through: unpacked safely into a folder of its own, its
root found, each image decoded once with the service's checked decoder (files that do not
decode are skipped and listed, not fatal), and a summary a person can read.

Each task's layout lives in its own module (:mod:`app.training.image_sets`,
:mod:`app.training.detection_sets`, :mod:`app.training.text_sets`); they write the set in the
layout the training commands read (``train/<class>/...``, ``images/`` + ``label.csv``,
``sentences.txt``), so a job trains on it exactly as the command line would.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core.errors import ServiceError
from app.serving.intake import ImageError, ImageLimits, decode_image
from models.data.folders import IMAGE_SUFFIXES

TASKS = ("classify", "detect", "word2vec")


class DatasetError(ServiceError):
    """A set that cannot be trained on (422), or an archive refused (400); the message says
    what is wrong and what to send."""

    def __init__(
        self, message: str, status_code: int = 422, loc: tuple[str, ...] = ("body", "file")
    ) -> None:
        super().__init__(message, status_code=status_code, loc=loc)


@dataclass
class Skipped:
    """Files left out of a set, with the reason, at most ``most`` listed (all counted)."""

    most: int = 50
    count: int = 0
    files: list[dict[str, str]] = field(default_factory=list)

    def add(self, name: str, reason: str) -> None:
        self.count += 1
        if len(self.files) < self.most:
            self.files.append({"file": name[:200], "reason": reason})

    def as_dict(self) -> dict[str, Any]:
        return {"count": self.count, "files": self.files}


@dataclass
class SizeTally:
    """Image sizes of a set: smallest, largest and median side lengths."""

    widths: list[int] = field(default_factory=list)
    heights: list[int] = field(default_factory=list)

    def add(self, width: int, height: int) -> None:
        self.widths.append(width)
        self.heights.append(height)

    def as_dict(self) -> dict[str, Any]:
        if not self.widths:
            return {}
        return {
            "min": [min(self.widths), min(self.heights)],
            "max": [max(self.widths), max(self.heights)],
            "median": [int(statistics.median(self.widths)), int(statistics.median(self.heights))],
        }


def set_root(folder: Path) -> Path:
    """The folder a set's layout starts in: ``folder``, or the one folder it wraps (a zip of
    a folder rather than of its contents), as deep as that goes; a lone folder of files is a
    class folder (or ``images/``), not a wrapper."""
    root = folder
    while True:
        entries = [p for p in root.iterdir() if not p.name.startswith(".")]
        if len(entries) != 1 or not entries[0].is_dir() or entries[0].name == "images":
            return root
        if any(p.is_file() for p in entries[0].iterdir()):
            return root
        root = entries[0]


def is_image_name(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def check_image(path: Path, limits: ImageLimits) -> tuple[int, int] | str:
    """The upright (width, height) of an image file, or why it cannot be used."""
    try:
        decoded = decode_image(path.read_bytes(), limits, min_side=32)
    except ImageError as error:
        return str(error)
    except OSError as error:
        return f"cannot be read ({type(error).__name__})"
    return decoded.width, decoded.height


def relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()

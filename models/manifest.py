"""The weights manifest: which checkpoints the service serves, and how they were made.

``weights/manifest.json`` holds ``{"version": 2, "models": [card, ...]}``; each card (typed per
task in :mod:`models.cards`) names a model, its task (which loader builds it), its checkpoint
file relative to the manifest, the file's SHA-256, and what describes it (classes, metrics,
the command that trained it, whether it is its task's default).

    python -m models.manifest migrate weights/manifest.json   # rewrite an older manifest
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from models.cards import MANIFEST_VERSION, ModelCard, dump_card, migrate_entry, parse_card

REQUIRED_KEYS = ("name", "task", "file", "sha256")
_READ_CHUNK = 1 << 20
logger = logging.getLogger(__name__)


class ManifestError(ValueError):
    """The manifest cannot be read or an entry lacks what serving needs."""


class WeightsFileError(ValueError):
    """A checkpoint the manifest names cannot be served: outside the weights folder, not a
    regular file, too large, or not the file the manifest's SHA-256 describes. Messages name
    the file, never a path outside the weights folder."""


@dataclass(frozen=True)
class ManifestEntry:
    """A model's card and its checkpoint's path (resolved against the manifest's folder)."""

    card: ModelCard
    file: Path

    @property
    def name(self) -> str:
        return self.card.name

    @property
    def task(self) -> str:
        return self.card.task

    @property
    def sha256(self) -> str:
        return self.card.sha256.lower()

    @property
    def info(self) -> dict[str, Any]:
        """Everything the card says beyond name, task, file and checksum, as plain data."""
        return {k: v for k, v in dump_card(self.card).items() if k not in REQUIRED_KEYS}


def read_manifest(path: Path) -> list[ManifestEntry]:
    """Parse and validate ``path``; checkpoint paths in the result are resolved against its
    folder. An older manifest is migrated in memory (and a warning says how to rewrite it)."""
    document = _read_document(path)
    parsed = [
        ManifestEntry(card, path.parent / card.file)
        for card in _cards(path, document["models"], _version(path, document))
    ]
    names = [entry.name for entry in parsed]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ManifestError(f"manifest {path}: model names must be unique, repeated: {duplicates}")
    for task in {entry.task for entry in parsed}:
        marked = [entry.name for entry in parsed if entry.task == task and entry.card.default]
        if len(marked) > 1:
            raise ManifestError(
                f"manifest {path}: {len(marked)} {task} models are marked default ({marked}); "
                f"mark one"
            )
    return parsed


def default_models(entries: list[ManifestEntry]) -> dict[str, str]:
    """Each task's default model: the one marked ``default``, else the task's only model."""
    defaults: dict[str, str] = {}
    for task in {entry.task for entry in entries}:
        of_task = [entry for entry in entries if entry.task == task]
        marked = [entry.name for entry in of_task if entry.card.default]
        if marked or len(of_task) == 1:
            defaults[task] = (marked or [of_task[0].name])[0]
    return defaults


def _read_document(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"manifest {path} does not exist: set D2L_MANIFEST_PATH") from None
    except (OSError, json.JSONDecodeError) as error:
        raise ManifestError(f"manifest {path} cannot be read: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get("models"), list):
        raise ManifestError(f'manifest {path} must be an object with a "models" list')
    return document


def _version(path: Path, document: dict[str, Any]) -> int:
    version = document.get("version", 1)
    if version not in (1, MANIFEST_VERSION):
        raise ManifestError(
            f"manifest {path} has version {version!r}; this service reads 1 and {MANIFEST_VERSION}"
        )
    if version == 1:
        logger.warning(
            "manifest %s is version 1, read through a migration: rewrite it with "
            "python -m models.manifest migrate %s",
            path,
            path,
        )
    return int(version)


def _cards(path: Path, entries: list[Any], version: int) -> list[ModelCard]:
    cards = []
    for position, entry in enumerate(entries):
        missing = [key for key in REQUIRED_KEYS if not isinstance(entry, dict) or key not in entry]
        if missing:
            raise ManifestError(f"manifest {path}: models[{position}] lacks {', '.join(missing)}")
        try:
            cards.append(parse_card(migrate_entry(entry) if version == 1 else entry))
        except ValidationError as error:
            raise ManifestError(
                f"manifest {path}: models[{position}] ({entry['name']!r}): {_first(error)}"
            ) from None
    return cards


def _first(error: ValidationError) -> str:
    """The first problem pydantic found, as ``key: message``."""
    problem = error.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in problem["loc"]) or "entry"
    return f"{where}: {problem['msg']}"


def upsert_entry(path: Path, entry: dict[str, Any]) -> None:
    """Add ``entry`` (validated as its task's card) to the manifest at ``path``, replacing the
    entry of the same name (a retrained default stays the default unless ``entry`` says
    otherwise); an older manifest is migrated as it is rewritten.

    Raises:
        ManifestError: ``entry`` is not a valid card.
    """
    try:
        card = parse_card(entry)
    except ValidationError as error:
        raise ManifestError(f"entry {entry.get('name')!r} for {path}: {_first(error)}") from None
    cards = [] if not path.exists() else [e.card for e in read_manifest(path)]
    kept = [other for other in cards if other.name != card.name]
    replaced = [other for other in cards if other.name == card.name]
    if replaced and replaced[0].default and "default" not in entry:
        card = card.model_copy(update={"default": True})
    write_manifest(path, [*kept, card])


def write_manifest(path: Path, cards: list[ModelCard]) -> None:
    """Write ``cards`` (sorted by name) as a manifest of this version."""
    document = {
        "version": MANIFEST_VERSION,
        "models": [dump_card(card) for card in sorted(cards, key=lambda card: card.name)],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def sha256_of(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def verify_weights_file(entry: ManifestEntry, root: Path, max_bytes: int) -> Path:
    """The resolved path of ``entry``'s checkpoint, once it is known to be a regular file inside
    ``root`` (symbolic links followed), at most ``max_bytes`` long, whose SHA-256 is the one the
    manifest records; else :class:`WeightsFileError`.

    The size is checked before a byte is read and the hash reads no more than that size, so a
    device (``/dev/zero``), a pipe or a file that grows cannot make it read forever.
    """
    name = entry.file.name
    try:
        resolved = entry.file.resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop
        raise WeightsFileError(f"the weights file {name} cannot be resolved") from None
    if not resolved.is_relative_to(root.resolve()):
        raise WeightsFileError(
            f"the weights file {name} is outside the weights folder: checkpoints must lie in "
            f"the manifest's folder (or D2L_WEIGHTS_ROOT)"
        )
    if not resolved.exists():
        raise WeightsFileError(f"the weights file {name} does not exist")
    try:
        descriptor = os.open(resolved, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as error:
        raise WeightsFileError(
            f"the weights file {name} cannot be opened ({error.strerror})"
        ) from None
    with os.fdopen(descriptor, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise WeightsFileError(f"the weights file {name} is not a regular file")
        if info.st_size > max_bytes:
            raise WeightsFileError(
                f"the weights file {name} has {info.st_size:,} bytes, over the limit of "
                f"{max_bytes:,} (D2L_MAX_WEIGHTS_BYTES)"
            )
        digest, left = hashlib.sha256(), info.st_size
        while left > 0 and (chunk := file.read(min(_READ_CHUNK, left))):
            digest.update(chunk)
            left -= len(chunk)
        if left != 0 or file.read(1):
            raise WeightsFileError(f"the weights file {name} changed size while it was read")
    if digest.hexdigest() != entry.sha256:
        raise WeightsFileError(
            f"the SHA-256 of the weights file {name} does not match the manifest: the file was "
            f"replaced or damaged; update the manifest entry or restore the file"
        )
    return resolved


def update_entry(path: Path, name: str, fields: dict[str, Any]) -> None:
    """Set ``fields`` in the entry ``name`` of the manifest at ``path``, keeping the rest."""
    entry = next((e for e in read_manifest(path) if e.name == name), None)
    if entry is None:
        raise ManifestError(f"manifest {path} has no model {name!r}")
    upsert_entry(path, {**dump_card(entry.card), **fields})


def main(argv: list[str]) -> None:
    """``python -m models.manifest migrate PATH``: rewrite PATH in this version's schema."""
    if len(argv) != 2 or argv[0] != "migrate":
        sys.exit("usage: python -m models.manifest migrate PATH")
    path = Path(argv[1])
    try:
        cards = [entry.card for entry in read_manifest(path)]
    except ManifestError as error:
        sys.exit(str(error))
    write_manifest(path, cards)
    print(f"{path}: {len(cards)} models written as manifest version {MANIFEST_VERSION}")


if __name__ == "__main__":
    main(sys.argv[1:])

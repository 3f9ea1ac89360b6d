"""The weights manifest: which checkpoints the service serves, and how they were made.

``weights/manifest.json`` holds ``{"models": [entry, ...]}``; each entry names a model, its task
(which loader builds it), its checkpoint file relative to the manifest, the file's SHA-256, and
whatever else describes it (classes, metrics, the command that trained it).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REQUIRED_KEYS = ("name", "task", "file", "sha256")
_READ_CHUNK = 1 << 20


class ManifestError(ValueError):
    """The manifest cannot be read or an entry lacks what serving needs."""


class WeightsFileError(ValueError):
    """A checkpoint the manifest names cannot be served: outside the weights folder, not a
    regular file, too large, or not the file the manifest's SHA-256 describes. Messages name
    the file, never a path outside the weights folder."""


@dataclass(frozen=True)
class ManifestEntry:
    name: str
    task: str
    file: Path
    sha256: str
    info: dict[str, Any] = field(default_factory=dict)


def read_manifest(path: Path) -> list[ManifestEntry]:
    """Parse ``path``; checkpoint paths in the result are resolved against its folder."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"manifest {path} does not exist: set D2L_MANIFEST_PATH") from None
    except (OSError, json.JSONDecodeError) as error:
        raise ManifestError(f"manifest {path} cannot be read: {error}") from None
    entries = document.get("models") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ManifestError(f'manifest {path} must be an object with a "models" list')
    parsed: list[ManifestEntry] = []
    for position, entry in enumerate(entries):
        missing = [key for key in REQUIRED_KEYS if not isinstance(entry, dict) or key not in entry]
        if missing:
            raise ManifestError(f"manifest {path}: models[{position}] lacks {', '.join(missing)}")
        info = {key: value for key, value in entry.items() if key not in REQUIRED_KEYS}
        parsed.append(
            ManifestEntry(
                name=str(entry["name"]),
                task=str(entry["task"]),
                file=path.parent / str(entry["file"]),
                sha256=str(entry["sha256"]).lower(),
                info=info,
            )
        )
    names = [entry.name for entry in parsed]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ManifestError(f"manifest {path}: model names must be unique, repeated: {duplicates}")
    return parsed


def upsert_entry(path: Path, entry: dict[str, Any]) -> None:
    """Add ``entry`` to the manifest at ``path``, replacing the entry of the same name."""
    document = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"models": []}
    models = [model for model in document["models"] if model.get("name") != entry["name"]]
    document["models"] = sorted([*models, entry], key=lambda model: model["name"])
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
    document = json.loads(path.read_text(encoding="utf-8"))
    entry = next((model for model in document["models"] if model.get("name") == name), None)
    if entry is None:
        raise ManifestError(f"manifest {path} has no model {name!r}")
    upsert_entry(path, {**entry, **fields})

"""Model versions: what a succeeded job registers (``NAME@N``: its weights, their SHA-256, a
card of the manifest's kind, its data set and job), and the base models jobs start from."""

from __future__ import annotations

import re
import shutil
from typing import Any

from app.core.config import Settings
from app.training.store import Store
from models.cards import dump_card, parse_card
from models.manifest import ManifestEntry, read_manifest, sha256_of
from models.train.config import TrainingError
from models.train.engine import TrainResult

VERSIONED = re.compile(r"(?P<name>[A-Za-z0-9][A-Za-z0-9._-]{0,63})@(?P<version>[0-9]{1,9})")


def version_name(name: str, version: int) -> str:
    return f"{name}@{version}"


def version_entry(store: Store, row: dict[str, Any]) -> ManifestEntry:
    """A version as the registry serves it (its file inside the state folder's models/)."""
    card = parse_card(row["entry"])
    return ManifestEntry(card, store.models_dir / card.file)


def find_base(settings: Settings, store: Store, name: str | None) -> ManifestEntry | None:
    """The model a job starts from: a manifest model, or a version (``NAME@N``; ``NAME``
    alone: its newest version); None for training from scratch."""
    if name is None:
        return None
    for entry in read_manifest(settings.manifest_path):
        if entry.name == name:
            return entry
    match = VERSIONED.fullmatch(name)
    rows = store.versions(match["name"] if match else name)
    if match:
        rows = [row for row in rows if row["version"] == int(match["version"])]
    if not rows:
        raise TrainingError(f"there is no model {name!r} to start from: GET /models lists them")
    return version_entry(store, rows[-1])


def register_version(
    store: Store, job: dict[str, Any], result: TrainResult, evaluation: dict[str, Any]
) -> int:
    """Move a finished job's weights into ``models/NAME/N/`` and record version N; its
    number. The folder is written aside and renamed into place: a version is whole or absent."""
    name = job["model_name"]
    version = store.next_version(name)
    target = store.models_dir / name / str(version)
    staging = store.models_dir / name / f".staging-{job['id']}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    weights = staging / f"model{result.weights.suffix}"
    shutil.move(result.weights, weights)
    if result.curves is not None and result.curves.is_file():
        shutil.move(result.curves, staging / "curves.png")
    fields = {key: value for key, value in result.card.items() if key not in {"name", "file"}}
    card = parse_card(
        {
            **fields,
            "name": version_name(name, version),
            "task": job["task"],
            "file": f"{name}/{version}/{weights.name}",
            "sha256": sha256_of(weights),
            "metrics": {**fields.get("metrics", {}), **_headline(evaluation)},
            "note": f"trained by job {job['id']} on data set {job['dataset']}"
            + (f" from {job['base_model']}" if job["base_model"] else " from scratch"),
        }
    )
    staging.rename(target)
    store.add_version(
        {
            "name": name,
            "version": version,
            "task": job["task"],
            "file": card.file,
            "sha256": card.sha256,
            "entry": dump_card(card),
            "dataset": job["dataset"],
            "job": job["id"],
        }
    )
    return version


def _headline(evaluation: dict[str, Any]) -> dict[str, Any]:
    """The held-out evaluation's single numbers, for the card's metrics."""
    keys = ("accuracy", "map_50", "map", "false_boxes_per_100_images")
    return {f"heldout_{key}": evaluation[key] for key in keys if key in evaluation}


def remove_version_files(store: Store, name: str, version: int) -> None:
    shutil.rmtree(store.models_dir / name / str(version), ignore_errors=True)

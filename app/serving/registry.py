"""The model registry: reads the manifest, loads each model on the device, tracks readiness."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import torch

from models.manifest import ManifestEntry, read_manifest, sha256_of

logger = logging.getLogger(__name__)

# A loader builds a servable model from a verified manifest entry, placed on the device.
Loader = Callable[[ManifestEntry, torch.device], Any]


class ModelNotFoundError(LookupError):
    def __init__(self, name: str, task: str, available: list[str]) -> None:
        listed = ", ".join(available) or "none"
        super().__init__(f"there is no {task} model named {name!r}; {task} models: {listed}")


class ModelUnavailableError(RuntimeError):
    def __init__(self, name: str, state: ModelState, reason: str | None) -> None:
        if state is ModelState.LOADING:
            message = f"model {name!r} is still loading: retry in a few seconds"
        else:
            message = f"model {name!r} failed to load ({reason}); the other models still serve"
        super().__init__(message)
        self.state = state


class ModelState(StrEnum):
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"


@dataclass
class ModelRecord:
    entry: ManifestEntry
    state: ModelState = ModelState.LOADING
    reason: str | None = None
    model: Any = None


class ModelRegistry:
    """Every model the manifest lists, with its state; loading runs off the event loop."""

    def __init__(self, manifest_path: Path, device: torch.device, loaders: Mapping[str, Loader]):
        self.device = device
        self._loaders = dict(loaders)
        self._records = {entry.name: ModelRecord(entry) for entry in read_manifest(manifest_path)}
        self.loaded = threading.Event()

    def load_all(self) -> None:
        """Load every model; a failure is recorded on that model and the others go on."""
        for record in self._records.values():
            try:
                record.model = self._load(record.entry)
                record.state = ModelState.READY
                logger.info("model %s ready on %s", record.entry.name, self.device)
            except Exception as error:  # noqa: BLE001 - any failure is reported, not raised
                record.state, record.reason = ModelState.FAILED, str(error)
                logger.error("model %s failed to load: %s", record.entry.name, error)
        self.loaded.set()

    def _load(self, entry: ManifestEntry) -> Any:
        loader = self._loaders.get(entry.task)
        if loader is None:
            known = ", ".join(sorted(self._loaders)) or "none"
            raise LookupError(f"no loader for task {entry.task!r} (known tasks: {known})")
        digest = sha256_of(entry.file)
        if digest != entry.sha256:
            raise ValueError(f"{entry.file.name}: SHA-256 {digest} does not match the manifest")
        return loader(entry, self.device)

    def get(self, name: str, task: str) -> Any:
        """The loaded model ``name`` of ``task``; raises when there is none or it is not ready."""
        record = self._records.get(name)
        if record is None or record.entry.task != task:
            available = sorted(r.entry.name for r in self._records.values() if r.entry.task == task)
            raise ModelNotFoundError(name, task, available)
        if record.state is not ModelState.READY:
            raise ModelUnavailableError(name, record.state, record.reason)
        return record.model

    @property
    def records(self) -> list[ModelRecord]:
        return list(self._records.values())

    @property
    def ready(self) -> bool:
        """True once loading has finished and every model is ready."""
        return self.loaded.is_set() and all(
            record.state is ModelState.READY for record in self._records.values()
        )

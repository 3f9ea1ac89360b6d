"""The model registry: reads the manifest, loads each model on the device, tracks readiness,
gives each image model its dynamic batcher, and reloads a model without stopping the others.

Loading runs in daemon threads with a deadline (a load that hangs fails the model and never
keeps the process from exiting); batchers live on the event loop. Checkpoints must be regular
files inside the weights folder, under a size limit, with the manifest's SHA-256. A model that
fails to load is recorded with a short reason (the full error is logged) and the others serve on
(unless the caller asks for strictness).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from app.core.errors import NAME_ECHO_CHARS
from app.serving.batcher import BatchingConfig, BatchObserver, DynamicBatcher
from app.serving.daemon import in_daemon_thread
from app.serving.failures import ModelLoadError, describe_failure, one_line
from app.serving.served import (
    ModelNotFoundError,
    ModelState,
    ModelUnavailableError,
    ReloadError,
    ReloadInProgressError,
    ServedModel,
    TaskT,
)
from app.serving.tasks.base import Placement, ServedTask
from models.manifest import ManifestEntry, default_models, read_manifest, verify_weights_file

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadLimits:
    """What a checkpoint may be: inside ``weights_root`` (default: the manifest's folder), at
    most ``max_bytes``, loaded within ``timeout_s``."""

    weights_root: Path | None = None
    max_bytes: int = 2 << 30
    timeout_s: float = 300.0


class ModelRegistry:
    """Every model the manifest lists, with its state.

    Args:
        manifest_path: the weights manifest (re-read on reload).
        placement: device and dtype for every model.
        tasks: the served-task class of each manifest task.
        batching: the batching configuration of a model on a device.
        observer: told about every batch (the metrics).
        limits: where checkpoints may lie, how large, how long a load may take.
        default_overrides: a model per task that requests naming none get, over the
            manifest's ``default`` marks.
    """

    def __init__(
        self,
        manifest_path: Path,
        placement: Placement,
        tasks: Mapping[str, type[ServedTask]],
        batching: Callable[[ManifestEntry, torch.device], BatchingConfig] = (
            lambda entry, device: BatchingConfig()
        ),
        observer: BatchObserver | None = None,
        limits: LoadLimits = LoadLimits(),
        default_overrides: Mapping[str, str] | None = None,
    ) -> None:
        self.manifest_path = manifest_path
        self.limits = limits
        self.weights_root = limits.weights_root or manifest_path.parent
        self.placement = placement
        self._tasks = dict(tasks)
        self._batching = batching
        self._observer = observer
        entries = read_manifest(manifest_path)
        self._models = {entry.name: ServedModel(entry) for entry in entries}
        self._default_overrides = dict(default_overrides or {})
        self._defaults = default_models(entries)
        self._reloading: set[str] = set()
        self._added: set[str] = set()  # served beside the manifest: trained versions
        self.loaded = threading.Event()

    @property
    def device(self) -> torch.device:
        return self.placement.device

    async def load_all(self) -> None:
        """Load every model; a failure is recorded on that model and the others go on."""
        for name, loading in list(self._models.items()):
            try:
                served = await self._serve(loading.entry)
                self._models[name] = served
                reason = served.dtype_reason
                logger.info(
                    "model %s ready on %s in %s%s",
                    name,
                    self.device,
                    str(served.task.dtype).removeprefix("torch."),
                    f" ({reason})" if reason else "",
                )
            except Exception as error:  # noqa: BLE001 - any failure is reported, not raised
                failed = ServedModel(loading.entry, ModelState.FAILED, describe_failure(error))
                self._models[name] = failed
                logger.error("model %s failed to load: %s", name, error)
        self.loaded.set()

    async def reload(self, name: str) -> ServedModel:
        """Load ``name`` again from the manifest as it is now (a new file, a new checksum),
        next to the old model, then swap: requests already given the old model finish on it.

        A model that failed before can be reloaded once fixed, and a model added to the
        manifest since the start is loaded. Raises :class:`ReloadError` (the old model keeps
        serving) when the new checkpoint cannot be loaded.
        """
        listed = read_manifest(self.manifest_path)
        entries = {entry.name: entry for entry in listed}
        entry = entries.get(name)
        if entry is None:
            raise ModelNotFoundError(name, None, sorted(entries))
        if name in self._reloading:
            raise ReloadInProgressError(name)
        self._reloading.add(name)
        try:
            try:
                served = await self._serve(entry)
            except Exception as error:  # noqa: BLE001 - reported to the caller
                logger.error("model %s could not be reloaded: %s", name, error)
                raise ReloadError(
                    f"model {name!r} could not be reloaded from {entry.file.name}: "
                    f"{describe_failure(error)}; the model that was serving still serves"
                ) from None
            old = self._models.get(name)
            # One assignment: a request sees either the old model or the new one.
            self._models[name] = served
            self._defaults = default_models(listed)
            logger.info("model %s reloaded from %s", name, entry.file.name)
            if old is not None:
                await old.retire()  # what the old model took in finishes on it
            return served
        finally:
            self._reloading.discard(name)

    def begin_drain(self) -> int:
        """The server is shutting down: queued images run at once, without waiting for their
        batches to fill. Returns how many were queued."""
        queued = sum(model.drain() for model in self._models.values())
        logger.info("shutting down: running the %d images still queued at once", queued)
        return queued

    async def close(self) -> int:
        """Stop taking requests and answer every queued one (graceful shutdown); returns how
        many were queued."""
        drained = await asyncio.gather(*(model.close() for model in self._models.values()))
        return sum(drained)

    async def add(self, entry: ManifestEntry, root: Path) -> ServedModel:
        """Serve a model that is not in the manifest (a trained version, its file inside
        ``root``): loaded aside, then listed; a failure is recorded on it like any other."""
        self._models.setdefault(entry.name, ServedModel(entry))
        self._added.add(entry.name)
        try:
            served = await self._serve(entry, root)
        except Exception as error:  # noqa: BLE001 - any failure is reported, not raised
            served = ServedModel(entry, ModelState.FAILED, describe_failure(error))
            logger.error("model %s failed to load: %s", entry.name, error)
        if entry.name in self._models:  # not removed meanwhile
            self._models[entry.name] = served
            logger.info("model %s %s", entry.name, served.state)
        return served

    async def remove(self, name: str) -> None:
        """Stop serving ``name`` (a deleted version): what it took in is answered first."""
        model = self._models.pop(name, None)
        self._added.discard(name)
        if model is not None:
            await model.retire()

    async def _serve(self, entry: ManifestEntry, root: Path | None = None) -> ServedModel:
        task, reason = await in_daemon_thread(
            self._load, entry, root, timeout_s=self.limits.timeout_s
        )
        batcher = None
        if task.batched:
            config = self._batching(entry, self.device)
            batcher = DynamicBatcher(entry.name, task.run_batch, config, self._observer)
        return ServedModel(entry, ModelState.READY, None, task, batcher, reason)

    def _load(self, entry: ManifestEntry, root: Path | None) -> tuple[ServedTask, str | None]:
        task_type = self.task_type(entry.task)
        if task_type is None:
            known = ", ".join(sorted(self._tasks)) or "none"
            raise ModelLoadError(
                f"no served task for the task {one_line(entry.task, NAME_ECHO_CHARS)!r} "
                f"(known tasks: {known})"
            )
        path = verify_weights_file(entry, root or self.weights_root, self.limits.max_bytes)
        placement, reason = (
            self.placement.for_entry(entry)
            if task_type.reduced_precision
            else (self.placement, None)
        )
        # The task reads the file that was verified, even if the link it came through changes.
        task = task_type.load(dataclasses.replace(entry, file=path), placement)
        return task, reason

    def task_type(self, kind: str) -> type[ServedTask] | None:
        """The served-task class of the manifest task ``kind``."""
        return self._tasks.get(kind)

    def default_model(self, kind: str) -> str | None:
        """The model a request of the task ``kind`` gets when it names none: the setting's
        override (``D2L_DEFAULT_<TASK>_MODEL``), else the manifest's default for the task."""
        return self._default_overrides.get(kind) or self._defaults.get(kind)

    def get(self, name: str | None, task: type[TaskT]) -> ServedModel[TaskT]:
        """The served model ``name`` (None: the task's default) of the task ``task``; raises
        when there is none or it is not ready."""
        name = name or self.default_model(task.kind)
        model = self._models.get(name) if name is not None else None
        if model is None and name is not None and "@" not in name:
            model = self.newest_version(name)
        if model is None or model.entry.task != task.kind:
            available = sorted(m.name for m in self._models.values() if m.entry.task == task.kind)
            raise ModelNotFoundError(name, task.kind, available)
        if model.state is not ModelState.READY:
            raise ModelUnavailableError(name, model.state, model.reason)
        return model

    def newest_version(self, name: str) -> ServedModel | None:
        """The ready version ``name@N`` of highest N (a trained model asked for by name)."""
        prefix = f"{name}@"
        ready = [
            model
            for key, model in self._models.items()
            if key.startswith(prefix)
            and key[len(prefix) :].isdigit()
            and model.state is ModelState.READY
        ]
        return max(ready, key=lambda m: int(m.name[len(prefix) :]), default=None)

    @property
    def models(self) -> list[ServedModel]:
        """Every model of the manifest, in its order, whatever its state."""
        return list(self._models.values())

    @property
    def failures(self) -> dict[str, str]:
        """The models that failed to load, with the reasons."""
        return {
            model.name: model.reason or "unknown"
            for model in self._models.values()
            if model.state is ModelState.FAILED
        }

    @property
    def ready(self) -> bool:
        """True once loading has finished and every model of the manifest is ready (a trained
        version loading or failed does not take the replica out of rotation)."""
        return self.loaded.is_set() and all(
            model.state is ModelState.READY
            for name, model in self._models.items()
            if name not in self._added
        )

    @property
    def added(self) -> set[str]:
        """The models served beside the manifest (trained versions)."""
        return set(self._added)

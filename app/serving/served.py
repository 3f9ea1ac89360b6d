"""A served model and the errors of asking for one: its state (loading, ready, failed), the
loaded task and its batcher; the registry (:mod:`app.serving.registry`) holds them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

from app.core.errors import ServiceError, clip
from app.serving.batcher import DynamicBatcher
from app.serving.capacity import Ticket
from app.serving.tasks.base import ServedTask
from models.manifest import ManifestEntry

TaskT = TypeVar("TaskT", bound=ServedTask)


class ModelState(StrEnum):
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"


class ModelNotFoundError(ServiceError):
    status_code = 404

    def __init__(self, name: str | None, task: str | None, available: list[str]) -> None:
        kind = f"{task} model" if task else "model"
        listed = ", ".join(available) or "none"
        if name is None:
            super().__init__(
                f"there is no default {kind}: name one with model=, or mark one "
                f'"default": true in the manifest; {kind}s: {listed}'
            )
        else:
            super().__init__(f"there is no {kind} named {clip(name)!r}; {kind}s: {listed}")


class ModelUnavailableError(ServiceError):
    """503: a model still loading will be there soon (Retry-After); a failed one needs an
    operator."""

    status_code = 503

    def __init__(self, name: str, state: ModelState, reason: str | None) -> None:
        loading = state is ModelState.LOADING
        if loading:
            message = f"model {name!r} is still loading: retry in a few seconds"
        else:
            message = f"model {name!r} failed to load ({reason}); the other models still serve"
        super().__init__(message, headers={"Retry-After": "5"} if loading else None)
        self.state = state


class ReloadError(ServiceError):
    """A reload that could not load the new checkpoint; the old model keeps serving."""

    status_code = 422


class ReloadInProgressError(ServiceError):
    status_code = 409

    def __init__(self, name: str) -> None:
        super().__init__(f"model {name!r} is already being reloaded: wait for that to finish")


@dataclass(eq=False)
class ServedModel(Generic[TaskT]):
    """A manifest entry as the service serves it: its state and, once ready, the loaded task
    and (batched tasks) the batcher its requests go through. A reload replaces it whole."""

    entry: ManifestEntry
    state: ModelState = ModelState.LOADING
    reason: str | None = None
    task: TaskT | None = None
    batcher: DynamicBatcher | None = None
    dtype_reason: str | None = None

    @property
    def name(self) -> str:
        return self.entry.name

    def check_room(self, units: int = 1) -> None:
        """Raise (503) unless ``units`` images would fit now; takes nothing."""
        if self.batcher is not None:
            self.batcher.check_room(units)

    def admit(self, units: int = 1) -> Ticket:
        """Take ``units`` images in (see the batcher)."""
        if self.batcher is None:
            raise TypeError(f"model {self.name!r} has no batch runner")
        return self.batcher.admit(units)

    async def run(self, items: Sequence[Any]) -> list[Any]:
        """Results for ``items`` through the batcher (a model without one has nothing to
        run)."""
        if self.batcher is None:
            raise TypeError(f"model {self.name!r} has no batch runner")
        return await self.batcher.submit_many(items)

    def drain(self) -> int:
        return self.batcher.drain() if self.batcher is not None else 0

    async def retire(self) -> int:
        """Stop the batcher once the requests it admitted have been answered (a reload)."""
        return await self.batcher.retire() if self.batcher is not None else 0

    async def close(self) -> int:
        """Stop the batcher; the number of queued requests it answered while closing."""
        return await self.batcher.close() if self.batcher is not None else 0

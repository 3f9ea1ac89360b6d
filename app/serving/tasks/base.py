"""The served-task interface, in the spirit of LitServe's ``LitAPI``.

A :class:`ServedTask` is one loaded model of a task kind (the manifest's ``task``): its class
knows how to load a manifest entry onto a device and warm it up (``load``), how to describe
such an entry for ``/models`` (``describe``) and which HTTP routes serve it (``routes``); an
instance runs one batch (``run_batch``, what the model's dynamic batcher calls). The registry,
the batcher and the model dependency are generic over it, and the app includes the routes of
every task of ``catalog.TASKS``: adding a task is a task module here, its schemas and its model
(docs/architecture.md, "Adding a task").
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Generic, Self, TypeVar

import torch
from fastapi import APIRouter
from torch import Tensor, nn

from app.serving.failures import ModelLoadError
from models.manifest import ManifestEntry
from models.numerics import choose_dtype

JobT = TypeVar("JobT")
ResultT = TypeVar("ResultT")
WARM_UP_BATCH = 32


@dataclass(frozen=True)
class Placement:
    """Where models run and in what floating-point type.

    With ``dtype_setting`` (``D2L_DTYPE``: ``auto`` or a format), each model's type is chosen
    by :meth:`for_entry` from the setting and the model's measured ``numerics``; without it,
    every model computes in ``dtype``.
    """

    device: torch.device
    dtype: torch.dtype = torch.float32
    dtype_setting: str | None = None
    warm_up_batch: int = WARM_UP_BATCH  # images in each model's warm-up pass

    def for_entry(self, entry: ManifestEntry) -> tuple[Placement, str | None]:
        """The placement of one model, and why it has that type (None: no choice was made)."""
        if self.dtype_setting is None:
            return self, None
        choice = choose_dtype(self.dtype_setting, self.device, entry.card.numerics)
        return replace(self, dtype=choice.dtype, dtype_setting=None), choice.reason


@dataclass(frozen=True)
class TaskFacts:
    """What ``/models`` says of a manifest entry, loaded or not."""

    architecture: str | None = None
    classes: list[str] | None = None
    input_size: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    # A detector's thresholds for requests that name none (its manifest ``thresholds``).
    thresholds: dict[str, float] | None = None
    masks: bool | None = None  # a detector: whether its detections carry masks


class ServedTask(ABC, Generic[JobT, ResultT]):
    """One loaded model of the manifest task ``kind``.

    Subclasses set ``kind`` and ``title`` (how errors and docs name a model of it), implement
    :meth:`load`, and, when ``batched``, :meth:`run_batch`. ``dtype`` is what the model
    computes in.
    """

    kind: ClassVar[str]
    title: ClassVar[str]
    batched: ClassVar[bool] = True
    # Whether the model can compute in a reduced floating-point type (D2L_DTYPE applies).
    reduced_precision: ClassVar[bool] = True
    dtype: torch.dtype = torch.float32

    @classmethod
    @abstractmethod
    def load(cls, entry: ManifestEntry, placement: Placement) -> Self:
        """The model of ``entry`` (its file verified) on the placement's device, checked finite
        and warmed up with a real batch, so the first request is as fast as the others."""

    @classmethod
    def routes(cls) -> APIRouter:
        """The task's HTTP routes; the app includes those of every task it serves."""
        return APIRouter()

    def run_batch(self, jobs: Sequence[JobT]) -> list[ResultT]:
        """One forward pass for ``jobs``, then each job's own post-processing."""
        raise TypeError(f"{type(self).__name__} is not served through a batcher")

    @classmethod
    def describe(cls, entry: ManifestEntry) -> TaskFacts:
        """The entry's architecture, classes, input size and numeric metrics as the training
        command recorded them."""
        card = entry.card
        return TaskFacts(
            architecture=card.architecture,
            classes=getattr(card, "classes", None),
            input_size=getattr(card, "input_size", None),
            metrics=card.numeric_metrics(),
        )


def require_finite(tensors: Iterable[tuple[str, Tensor]], what: str) -> None:
    """Raise :class:`ModelLoadError` naming the first floating-point tensor with a NaN or an
    infinity: such a checkpoint would answer ``"score": null``."""
    for name, tensor in tensors:
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ModelLoadError(
                f"{what} {name} holds NaN or infinite values: the checkpoint is damaged; "
                f"restore or retrain it"
            )


def require_finite_weights(model: nn.Module) -> None:
    require_finite(model.state_dict().items(), "the weight tensor")


def warm_up_batch(preprocessed: Any, size: int = WARM_UP_BATCH) -> list[Any]:
    """A batch of ``size`` copies of one preprocessed blank input (``D2L_WARM_UP_BATCH``).
    Besides loading kernels, one large forward pass raises glibc's dynamic mmap threshold,
    after which single-image passes stop paying for fresh pages."""
    return [preprocessed] * size

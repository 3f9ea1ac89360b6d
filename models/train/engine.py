"""The one training loop and what every task shares around it (torchvision references'
``engine.py``): :func:`fit` runs the epochs, each task's :class:`TaskSteps` gives its batches,
its loss and its evaluation; learning-rate schedules, checkpoints that resume, progress
reports live here too; what a run leaves behind (its command, summary, curves and manifest
entry) is in :mod:`models.train.records`.

Each task (``classify``, ``detect``, ``word2vec``) keeps only what is its own: data, model,
loss and evaluation.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from torch import nn
from tqdm import tqdm

from models.train import distributed
from models.train.config import AUTO, SCHEDULES, TrainConfig, TrainingError
from models.train.distributed import Runtime


@dataclass(frozen=True)
class Progress:
    """Where a run stands, told to a progress callback after every step and once more when
    an epoch has ended, evaluated and been checkpointed (``epoch_ended``; rank 0 only)."""

    epoch: int  # the epoch under way, from 1
    epochs: int
    fraction: float  # of the whole run, 0 to 1
    loss: float | None  # the epoch's mean training loss so far
    metric: float | None  # the task's headline metric after the last finished epoch
    eta_s: float | None  # seconds left at this run's pace so far
    epoch_ended: bool = False


ProgressCallback = Callable[[Progress], None]


@dataclass
class TrainResult:
    """What a finished run wrote and measured (rank 0; other ranks get the same)."""

    weights: Path
    metrics: dict[str, Any]
    history: list[dict[str, Any]]
    curves: Path | None
    card: dict[str, Any] = field(default_factory=dict)  # its manifest entry's fields


@dataclass
class Step:
    """One batch's loss (to back-propagate), its example count and figures summed over its
    examples (a mean over the epoch once every process's sums are added)."""

    loss: torch.Tensor
    count: int
    sums: dict[str, float] = field(default_factory=dict)


class TaskSteps(ABC):
    """A task's part of :func:`fit`: its batches, one step's loss, its epoch's figures and
    its evaluation. ``trained`` is the model as trained (under DDP when distributed)."""

    rate: ClassVar[str] = "examples_per_second"
    metric: ClassVar[str | None] = None  # the history key that progress reports
    schedule_unit: ClassVar[Literal["batch", "epoch"]] = "batch"
    trained: nn.Module

    @abstractmethod
    def batches(self, epoch: int) -> Sequence[Any]:
        """This process's batches of ``epoch``, in order."""

    @abstractmethod
    def step(self, batch: Any, epoch: int) -> Step: ...

    def epoch_figures(self, sums: dict[str, float], seen: float) -> dict[str, float]:
        """The epoch's training figures from sums over every process (default: means)."""
        return {key: value / seen for key, value in sums.items()}

    def examples(self, seen: float) -> float:
        """How many examples the epoch's rate counts (default: those stepped on)."""
        return seen

    def evaluate(self, epoch: int) -> dict[str, float]:
        """Validation figures after ``epoch``, the same on every process."""
        return {}

    def end_epoch(self, history: list[dict[str, Any]]) -> None:
        """Rank 0, after the checkpoint: e.g. write the servable file of the run so far."""
        return None


@dataclass
class Run:
    """What :func:`fit` trains and where it stands: the model (as checkpoints hold it, not
    wrapped), its optimizer and schedule, the checkpoint written every epoch, the history of
    the finished epochs."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler | None
    checkpoint: Path
    history: list[dict[str, Any]] = field(default_factory=list)


def start_run(
    config: TrainConfig,
    device: torch.device,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler | None = None,
    checkpoint: Path | None = None,
) -> Run:
    """A run from its first epoch, or, when ``config.resume`` says to continue, where its
    checkpoint stopped (``auto``: the run's own checkpoint if it exists; a path: that file,
    which must exist), its state restored into ``model``, ``optimizer`` and ``schedule``.
    ``checkpoint`` defaults to ``config.checkpoint``, else ``--output`` with ``.ckpt.pt``."""
    checkpoint = checkpoint or config.checkpoint or config.output.with_suffix(".ckpt.pt")
    run = Run(model, optimizer, schedule, checkpoint)
    source = None
    if config.resume == AUTO:
        source = checkpoint if checkpoint.is_file() else None
    elif config.resume is not None:
        source = Path(config.resume)
        if not source.is_file():
            raise TrainingError(f"--resume {source}: no such checkpoint")
    if source is not None:
        run.history = resume(source, device, model, optimizer, schedule)
    return run


def launch(
    run: Callable[[Any, Runtime, ProgressCallback | None], TrainResult],
    config: TrainConfig,
    progress: ProgressCallback | None = None,
) -> TrainResult:
    """``run(config, runtime, progress)`` on this process, alone or as one of torchrun's (the
    process group joined before and left after)."""
    runtime = distributed.start(config.device)
    try:
        return run(config, runtime, progress)
    finally:
        runtime.close()


def fit(
    steps: TaskSteps,
    run: Run,
    config: TrainConfig,
    runtime: Runtime,
    progress: ProgressCallback | None = None,
) -> list[dict[str, Any]]:
    """Train ``run.model`` from epoch ``len(run.history)`` to ``config.epochs``: per batch,
    the task's step, backward, the optimizer (and a ``batch`` schedule); per epoch, the figures
    summed over every process, the task's evaluation, one history row (with ``seconds`` and
    the task's rate), a checkpoint that resumes, and the task's ``end_epoch``. ``progress``
    hears after every step (rank 0); an exception it raises stops the run, and the last
    checkpoint resumes it. Returns the history."""
    quiet = config.no_progress or not runtime.is_main
    history, optimizer, schedule = run.history, run.optimizer, run.schedule
    first, started_run = len(history), time.perf_counter()
    for epoch in range(first, config.epochs):
        started = time.perf_counter()
        steps.trained.train()
        batches = steps.batches(epoch)
        sums: dict[str, float] = {}
        seen = 0
        bar = tqdm(batches, desc=f"epoch {epoch + 1}/{config.epochs}", disable=quiet)
        for index, batch in enumerate(bar):
            step = steps.step(batch, epoch)
            optimizer.zero_grad(set_to_none=True)
            step.loss.backward()
            optimizer.step()
            if schedule is not None and steps.schedule_unit == "batch":
                schedule.step()
            seen += step.count
            for key, value in {"loss": step.loss.item() * step.count, **step.sums}.items():
                sums[key] = sums.get(key, 0.0) + value
            bar.set_postfix(loss=f"{sums['loss'] / seen:.4f}", refresh=False)
            if progress is not None and runtime.is_main:
                within = epoch + (index + 1) / max(len(batches), 1)
                done = (within - first) / (config.epochs - first)
                elapsed = time.perf_counter() - started_run
                progress(
                    Progress(
                        epoch=epoch + 1,
                        epochs=config.epochs,
                        fraction=within / config.epochs,
                        loss=sums["loss"] / seen,
                        metric=history[-1].get(steps.metric) if history and steps.metric else None,
                        eta_s=elapsed * (1 - done) / done if done > 0 else None,
                    )
                )
        if schedule is not None and steps.schedule_unit == "epoch":
            schedule.step()
        keys = sorted(sums)
        *totals, seen_all = runtime.sum([sums[key] for key in keys] + [seen])
        seconds = time.perf_counter() - started
        row = {"epoch": epoch + 1}
        row |= steps.epoch_figures(dict(zip(keys, totals, strict=True)), seen_all)
        row |= steps.evaluate(epoch)
        row |= {
            "seconds": round(seconds, 2),
            steps.rate: round(steps.examples(seen_all) / seconds, 1),
        }
        history.append(row)
        shown = {k: v for k, v in row.items() if k not in {"epoch", "seconds"}}
        print(f"epoch {epoch + 1}: " + ", ".join(f"{k} {v:.4g}" for k, v in shown.items()))
        if runtime.is_main:
            save_checkpoint(run.checkpoint, run.model, optimizer, config, history, schedule)
            steps.end_epoch(history)
            if progress is not None:
                done = (epoch + 1 - first) / (config.epochs - first)
                elapsed = time.perf_counter() - started_run
                progress(
                    Progress(
                        epoch=epoch + 1,
                        epochs=config.epochs,
                        fraction=(epoch + 1) / config.epochs,
                        loss=sums["loss"] / seen if seen else None,
                        metric=row.get(steps.metric) if steps.metric else None,
                        eta_s=elapsed * (1 - done) / done,
                        epoch_ended=True,
                    )
                )
    return history


def plain_args(config: Any) -> dict[str, Any]:
    """A config's (or namespace's) fields as plain data (paths as strings), for a
    checkpoint."""
    return {key: _plain(value) for key, value in vars(config).items()}


def _plain(value: Any) -> Any:
    """Paths as strings, lists of them too: a checkpoint must load with weights_only=True."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def make_schedule(
    kind: str, optimizer: torch.optim.Optimizer, total_steps: int
) -> torch.optim.lr_scheduler.LRScheduler:
    """``onecycle`` (peaks at each group's learning rate a quarter of the way), ``cosine``
    (annealed to 0), or ``constant``, over ``total_steps`` calls of ``step()``."""
    if kind == "onecycle":
        peaks = [group["lr"] for group in optimizer.param_groups]
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=peaks, total_steps=total_steps, pct_start=0.25
        )
    if kind == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, total_steps)
    if kind == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {kind!r}")


def save_checkpoint(
    path: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    config: Any,
    history: list[dict[str, Any]],
    schedule: torch.optim.lr_scheduler.LRScheduler | None = None,
    **extra: Any,
) -> None:
    """Model, optimizer, schedule, epoch, arguments, history and the RNG state: enough to
    resume the run exactly where it stopped (torchvision references' checkpoint)."""
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "epoch": len(history),
        "args": plain_args(config),
        "history": history,
        "rng": torch.get_rng_state(),
        **({"schedule": schedule.state_dict()} if schedule is not None else {}),
        **extra,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)


def resume(
    path: Path,
    device: torch.device,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler | None = None,
) -> list[dict[str, Any]]:
    """Restore a :func:`save_checkpoint` file into ``model``, ``optimizer`` and ``schedule``;
    returns the history (one row per finished epoch)."""
    state = torch.load(path, map_location=device, weights_only=True)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if schedule is not None and "schedule" in state:
        schedule.load_state_dict(state["schedule"])
    if "rng" in state:
        torch.set_rng_state(state["rng"].cpu())
    print(f"resumed from {path} after epoch {state['epoch']}")
    return state["history"]

"""What the three training commands share: batches with a progress bar, learning-rate
schedules, checkpoints that resume, the run's summary, its curves, the command that reproduces
it, and its manifest entry.

Each command (``classify``, ``detect``, ``word2vec``) keeps only what is its own: data, model,
loss and evaluation.
"""

from __future__ import annotations

import argparse
import os
import shlex
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from models.manifest import sha256_of, upsert_entry

SCHEDULES = ("constant", "cosine", "onecycle")


def command_line(
    kind: str,
    args: argparse.Namespace,
    skip: Iterable[str] = (),
    launcher: Sequence[str] = ("python",),
) -> str:
    """``python -m models.train KIND`` (or ``launcher``, e.g. torchrun with its shape, instead
    of ``python``) with every option of ``args`` spelled out (flags that are off and unset
    options left out; ``skip`` names options that do not shape the result)."""
    words = [*launcher, "-m", "models.train", kind]
    skipped = frozenset(skip)
    for name, value in vars(args).items():
        if name in skipped or value is None or value is False or value == []:
            continue
        flag = f"--{name.replace('_', '-')}"
        if value is True:
            words.append(flag)
        elif isinstance(value, list | tuple):
            words += [flag, *map(str, value)]
        else:
            words += [flag, str(value)]
    return shlex.join(words)


def plain_args(args: argparse.Namespace) -> dict[str, Any]:
    """The arguments as plain data (paths as strings), for a checkpoint."""
    return {key: _plain(value) for key, value in vars(args).items()}


def _plain(value: Any) -> Any:
    """Paths as strings, lists of them too: a checkpoint must load with weights_only=True."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def batch_starts(
    count: int, batch_size: int, epoch: int, epochs: int, quiet: bool, **bar: Any
) -> tqdm:
    """The start index of each batch of an epoch over ``count`` examples, with a progress bar
    (``quiet``: none)."""
    return tqdm(
        range(0, count, batch_size), desc=f"epoch {epoch + 1}/{epochs}", disable=quiet, **bar
    )


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
    args: argparse.Namespace,
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
        "args": plain_args(args),
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


def run_summary(history: list[dict[str, Any]], rate: str) -> dict[str, Any]:
    """Total training time, the ``rate`` (e.g. images per second) over the whole run, and
    every epoch's row."""
    seconds = sum(row["seconds"] for row in history)
    overall = sum(row[rate] * row["seconds"] for row in history) / max(seconds, 1e-9)
    return {"training_seconds": round(seconds, 1), rate: round(overall, 1), "epochs": history}


def plot_curves(
    history: list[dict[str, Any]],
    panels: Sequence[Sequence[tuple[str, str]]],
    path: Path,
    log_scale: Sequence[int] = (),
) -> None:
    """One panel per group of ``(key, label)`` curves over the epochs (keys the history lacks
    are left out, and so are panels left empty); panels in ``log_scale`` get a logarithmic y
    axis."""
    import matplotlib  # noqa: PLC0415 - training only

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    epochs = [row["epoch"] for row in history]
    shown = [
        (index, [(key, label) for key, label in curves if key in history[0]])
        for index, curves in enumerate(panels)
    ]
    shown = [(index, curves) for index, curves in shown if curves]
    figure, axes = plt.subplots(1, len(shown), figsize=(4.4 * len(shown), 3.6), squeeze=False)
    for axis, (index, curves) in zip(axes[0], shown, strict=True):
        for key, label in curves:
            axis.plot(epochs, [row[key] for row in history], marker="o", label=label)
        if index in log_scale:
            axis.set_yscale("log")
        axis.set_xlabel("epoch")
        axis.legend()
        axis.grid(alpha=0.3)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)


def list_in_manifest(
    manifest: Path | None, name: str, task: str, output: Path, **fields: Any
) -> None:
    """Add or replace ``name`` in ``manifest`` (nothing without one): the file relative to the
    manifest, its SHA-256, and ``fields``."""
    if manifest is None:
        return
    entry = {
        "name": name,
        "task": task,
        "file": os.path.relpath(output, manifest.parent),
        "sha256": sha256_of(output),
        **fields,
    }
    upsert_entry(manifest, entry)
    print(f"listed {name} in {manifest}")

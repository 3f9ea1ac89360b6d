"""What a training run leaves behind besides its weights: the command that reproduces it, the
summary of its epochs, the PNG of its curves and its manifest entry."""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from models.manifest import sha256_of, upsert_entry


def command_line(
    kind: str,
    config: Any,
    skip: Iterable[str] = (),
    launcher: Sequence[str] = ("python",),
) -> str:
    """``python -m models.train KIND`` (or ``launcher``, e.g. torchrun with its shape, instead
    of ``python``) with every option of ``config`` (a config or a namespace) spelled out in
    the order of the command's ``--help`` (flags that are off and unset options left out;
    ``skip`` names options that do not shape the result)."""
    words = [*launcher, "-m", "models.train", kind]
    skipped = frozenset(skip)
    fields = vars(config)
    for name, value in sorted(fields.items(), key=lambda item: _help_order(kind, item[0])):
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
    try:
        import matplotlib  # noqa: PLC0415 - training only
    except ImportError:  # the service's image: a job's curve is its history, in the API
        print(f"{path.name} not drawn: matplotlib is not installed (the train extra)")
        return
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


def _help_order(kind: str, option: str) -> int:
    """Where ``option`` comes in ``python -m models.train KIND --help`` (unknown: last)."""
    from models.train.cli import PARSERS  # noqa: PLC0415 - the parsers import the tasks' types

    if kind not in PARSERS:
        return 0
    order = _ORDERS.setdefault(kind, [action.dest for action in PARSERS[kind]()._actions])
    return order.index(option) if option in order else len(order)


_ORDERS: dict[str, list[str]] = {}

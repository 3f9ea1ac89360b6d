"""The training engine: fit()'s loop, progress and resume; the records: commands that reproduce
a run, checkpoints that load safely, curves."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

import pytest
import torch
from PIL import Image
from torch import nn

from models.train.config import TrainConfig, TrainingError
from models.train.distributed import Runtime
from models.train.engine import (
    Progress,
    Step,
    TaskSteps,
    fit,
    make_schedule,
    plain_args,
    start_run,
)
from models.train.records import command_line, plot_curves


def test_the_command_spells_out_lists_flags_and_paths():
    args = argparse.Namespace(
        schedule="cosine", lr=0.005, data=Path("data/logo"), half=True,
        synthetic=[Path("runs/a"), Path("runs/b")], no_augment=False, init=None, extra=[],
    )  # fmt: skip
    command = command_line("detect", args)
    assert shlex.split(command) == [  # in --help's order
        "python", "-m", "models.train", "detect", "--data", "data/logo",
        "--synthetic", "runs/a", "runs/b", "--half", "--lr", "0.005", "--schedule", "cosine",
    ]  # fmt: skip


def test_arguments_with_paths_in_lists_load_with_weights_only(tmp_path):
    args = argparse.Namespace(output=Path("x.pt"), synthetic=[Path("runs/a")], epochs=3)
    torch.save({"args": plain_args(args)}, tmp_path / "state.pt")
    loaded = torch.load(tmp_path / "state.pt", weights_only=True)
    assert loaded["args"] == {"output": "x.pt", "synthetic": ["runs/a"], "epochs": 3}


def test_curves_leave_out_panels_the_history_has_nothing_for(tmp_path, recwarn):
    history = [{"epoch": 1, "loss": 0.9}, {"epoch": 2, "loss": 0.5}]
    panels = [[("loss", "training loss")], [("class_error", "class error")]]
    plot_curves(history, panels, tmp_path / "curves.png")
    with Image.open(tmp_path / "curves.png") as image:
        assert image.width == 440  # one 4.4-inch panel at 100 dpi, not two
    assert not [w for w in recwarn if "legend" in str(w.message)]


class LineSteps(TaskSteps):
    """Fit y = 3x - 1 with one linear unit: a task small enough to check fit() by hand."""

    rate = "points_per_second"
    metric = "val_error"

    def __init__(self, model: nn.Module) -> None:
        self.trained = model
        self.x = torch.linspace(-1, 1, 12).unsqueeze(1)
        self.y = 3 * self.x - 1
        self.evaluated: list[int] = []

    def batches(self, epoch: int) -> list[slice]:
        return [slice(0, 4), slice(4, 8), slice(8, 12)]

    def step(self, batch: slice, epoch: int) -> Step:
        loss = nn.functional.mse_loss(self.trained(self.x[batch]), self.y[batch])
        return Step(loss, 4, {"points": 4.0})

    def evaluate(self, epoch: int) -> dict[str, float]:
        self.evaluated.append(epoch)
        with torch.no_grad():
            return {"val_error": float((self.trained(self.x) - self.y).abs().max())}


class Stopped(Exception):
    """What a progress callback raises to stop a run (a cancelled job)."""


def fit_line(
    tmp_path: Path, epochs: int, resume: str | None = None, stop_at: int | None = None
) -> tuple:
    torch.manual_seed(0)
    model = nn.Linear(1, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    schedule = make_schedule("cosine", optimizer, 3 * epochs)
    config = TrainConfig(epochs=epochs, no_progress=True, resume=resume)
    run = start_run(
        config, torch.device("cpu"), model, optimizer, schedule, tmp_path / "line.ckpt.pt"
    )
    steps, told = LineSteps(model), []

    def tell(progress: Progress) -> None:
        told.append(progress)
        if len(told) == stop_at:
            raise Stopped

    cpu = Runtime(0, 1, 0, 1, torch.device("cpu"), None)
    history = fit(steps, run, config, cpu, progress=tell)
    return model, history, steps, told


def test_fit_runs_every_step_reports_progress_and_resumes_where_it_stopped(tmp_path: Path):
    model, history, steps, told = fit_line(tmp_path, epochs=4)
    assert [row["epoch"] for row in history] == [1, 2, 3, 4] and steps.evaluated == [0, 1, 2, 3]
    assert set(history[0]) == {
        "epoch",
        "loss",
        "points",
        "val_error",
        "seconds",
        "points_per_second",
    }
    assert history[0]["points"] == 1.0  # 4 per batch of 4: sums become means per example
    assert history[-1]["val_error"] < history[0]["val_error"] < 4
    during = [p for p in told if not p.epoch_ended]
    assert len(during) == 12  # one report per step
    assert [p.fraction for p in during] == pytest.approx([(i + 1) / 12 for i in range(12)])
    assert during[3].metric == history[0]["val_error"]  # the last finished epoch's metric
    assert during[0].metric is None and all(p.loss is not None and p.loss >= 0 for p in told)
    # and one more as each epoch ends, with that epoch's metric (the live curve)
    ended = [p for p in told if p.epoch_ended]
    assert [p.metric for p in ended] == [row["val_error"] for row in history]
    assert [p.fraction for p in ended] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert told[-1] is ended[-1] and told[-1].epoch == 4 and told[-1].eta_s == 0

    # A run stopped in its third epoch and resumed ends where the uninterrupted one did.
    with pytest.raises(Stopped):
        fit_line(tmp_path / "cut", epochs=4, stop_at=9)
    resumed, rows, _, told_again = fit_line(tmp_path / "cut", epochs=4, resume="auto")
    assert [row["epoch"] for row in rows] == [1, 2, 3, 4] and len(told_again) == 8
    torch.testing.assert_close(resumed.state_dict(), model.state_dict())
    with pytest.raises(TrainingError, match="--resume absent.pt: no such checkpoint"):
        fit_line(tmp_path, epochs=1, resume="absent.pt")

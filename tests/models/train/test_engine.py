"""The training engine's records: commands that reproduce a run, checkpoints that load safely."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

import torch
from PIL import Image

from models.train.engine import command_line, plain_args, plot_curves


def test_the_command_spells_out_lists_flags_and_paths():
    args = argparse.Namespace(
        data=Path("data/logo"), synthetic=[Path("runs/a"), Path("runs/b")], cosine=True,
        no_augment=False, init=None, extra=[], lr=0.005,
    )  # fmt: skip
    command = command_line("detect", args)
    assert shlex.split(command) == [
        "python", "-m", "models.train", "detect", "--data", "data/logo",
        "--synthetic", "runs/a", "runs/b", "--cosine", "--lr", "0.005",
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

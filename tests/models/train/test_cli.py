"""The training commands' command lines build typed configs; the commands every committed model
records still parse, old spellings included."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from models.manifest import read_manifest
from models.train.cli import CONFIGS, get_parser, parse_config
from models.train.config import AUTO, DetectConfig, TrainingError, Word2VecConfig

REPO_ROOT = Path(__file__).resolve().parents[3]


def test_every_recorded_training_command_parses_into_its_config():
    entries = read_manifest(REPO_ROOT / "weights" / "manifest.json")
    for entry in entries:
        words = shlex.split(entry.card.command or "")
        start = words.index("models.train") + 1
        kind = words[start]
        config = parse_config(kind, words[start + 1 :])
        assert isinstance(config, CONFIGS[kind]), entry.name


def test_shared_options_are_spelled_alike_and_the_old_spellings_still_parse():
    for kind in CONFIGS:
        options = {
            option for action in get_parser(kind)._actions for option in action.option_strings
        }
        assert {"--epochs", "--schedule", "--resume", "--checkpoint", "--lr-scaling"} <= options
    old = parse_config("detect", ["--cosine"])
    assert old.schedule == "cosine" and parse_config("detect", []).schedule == "constant"
    assert parse_config("classify", ["--image-size", "96"]).input_size == 96
    assert parse_config("classify", ["--input-size", "96"]).input_size == 96
    assert parse_config("detect", ["--resume"]).resume == AUTO
    assert parse_config("word2vec", ["--resume", "runs/w.pt"]).resume == Path("runs/w.pt")


def test_configs_are_made_in_python_with_the_commands_defaults_and_check_themselves():
    assert parse_config("word2vec", ["--arch", "cbow"]) == Word2VecConfig(arch="cbow")
    assert Word2VecConfig(arch="cbow").output == Path("runs/word2vec-cbow-ptb.safetensors")
    assert DetectConfig(arch="fasterrcnn").input_shape == "photo"
    for bad, message in [
        ({"epochs": 0}, "--epochs 0: at least 1"),
        ({"schedule": "step"}, "--schedule step: one of constant, cosine, onecycle"),
        ({"arch": "tinyssd", "input_shape": "photo"}, "needs --arch fasterrcnn"),
        ({"lr": float("nan")}, "--lr nan"),
    ]:
        with pytest.raises(TrainingError, match=message):
            DetectConfig(**bad)

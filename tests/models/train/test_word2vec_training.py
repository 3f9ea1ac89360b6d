"""The training command end to end, on a tiny corpus whose structure is easy to learn."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch

from models.manifest import read_manifest, sha256_of
from models.text.word_vectors import WordVectors, read_word_vectors
from models.train import word2vec
from models.train.cli import parse_config, run

ANIMALS = ["cat", "dog", "cow", "pig", "hen"]
TOOLS = ["saw", "axe", "drill", "hammer", "wrench"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """Sentences mixing words of one group only: a model should learn the two groups."""
    folder = tmp_path_factory.mktemp("tiny-ptb")
    rng = random.Random(0)
    lines = [" ".join(rng.choices(rng.choice([ANIMALS, TOOLS]), k=8)) for _ in range(1_500)]
    (folder / "ptb.train.txt").write_text("\n".join(lines) + "\n")
    return folder


def train(corpus: Path, tmp_path: Path, *extra: str) -> dict:
    args = parse_config("word2vec",
        [
            "--data", str(corpus), "--epochs", "3", "--embed-size", "16", "--min-freq", "1",
            "--subsample", "1", "--batch-size", "128", "--lr", "0.01", "--no-progress",
            "--output", str(tmp_path / "vectors.safetensors"),
            "--checkpoint", str(tmp_path / "checkpoint.pt"),
            *extra,
        ]
    )  # fmt: skip
    return word2vec.train(args).card


@pytest.mark.parametrize("arch", ["skipgram", "cbow"])
def test_training_learns_the_groups_and_writes_servable_vectors(corpus, tmp_path, arch):
    info = train(corpus, tmp_path, "--arch", arch, "--manifest", str(tmp_path / "manifest.json"))
    losses = [epoch["loss"] for epoch in info["metrics"]["epochs"]]
    assert losses[-1] < losses[0] < 0.70, losses  # 0.693 is chance
    vectors = WordVectors.load(tmp_path / "vectors.safetensors", torch.device("cpu"))
    for group in (ANIMALS, TOOLS):
        neighbours = [word for word, _ in vectors.similar(group[0], 4)]
        assert set(neighbours) == set(group[1:]), (group[0], neighbours)
    _, tokens, saved = read_word_vectors(tmp_path / "vectors.safetensors")
    assert tokens[0] == "<unk>" and len(tokens) == 11
    assert saved["arch"] == arch and saved["args"]["embed_size"] == 16
    assert saved["command"].startswith(f"python -m models.train word2vec --arch {arch} ")
    (entry,) = read_manifest(tmp_path / "manifest.json")
    assert entry.name == "vectors" and entry.task == "word2vec"
    assert entry.sha256 == sha256_of(tmp_path / "vectors.safetensors")
    assert entry.info["metrics"]["tokens_per_second"] > 0


def test_checkpoints_load_safely_and_resume(corpus, tmp_path):
    train(corpus, tmp_path, "--epochs", "2")
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == 2 and len(state["history"]) == 2
    assert set(state) == {"model", "optimizer", "epoch", "history", "args", "rng"}
    resumed = train(corpus, tmp_path, "--epochs", "3", "--resume", str(tmp_path / "checkpoint.pt"))
    assert [epoch["epoch"] for epoch in resumed["metrics"]["epochs"]] == [1, 2, 3]


def test_the_same_seed_gives_the_same_vectors(corpus, tmp_path):
    train(corpus, tmp_path / "a", "--epochs", "1")
    train(corpus, tmp_path / "b", "--epochs", "1")
    first, _, _ = read_word_vectors(tmp_path / "a" / "vectors.safetensors")
    second, _, _ = read_word_vectors(tmp_path / "b" / "vectors.safetensors")
    torch.testing.assert_close(first, second)


def test_the_command_line_dispatches_by_model_kind(corpus, tmp_path, capsys):
    with pytest.raises(SystemExit, match="usage: python -m models.train"):
        run(["nonsense"])
    output = tmp_path / "cli.safetensors"
    run(["word2vec", "--data", str(corpus), "--epochs", "1", "--min-freq", "1", "--no-progress",
         "--output", str(output), "--checkpoint", str(tmp_path / "cli.pt")])  # fmt: skip
    assert output.is_file()
    assert "epoch 1: loss" in capsys.readouterr().out
    json.loads(json.dumps(read_word_vectors(output)[2]))  # metadata is plain JSON

"""The training commands under torchrun: two Gloo processes on the CPU train what one process
trains with the same effective batch, write one servable file, and a run resumes on another
number of processes."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from models.manifest import read_manifest
from models.train import classify, detect, word2vec
from models.train.cli import parse_config
from models.vision.classifier import load_classifier_file
from models.vision.detection.tinyssd import TinySSDDetector

pytestmark = pytest.mark.integration  # torchrun processes

ROOT = Path(__file__).resolve().parents[3]


def torchrun(*arguments: str) -> str:
    """``torchrun --standalone --nproc_per_node=2 -m models.train ...``; its output."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         "-m", "models.train", *arguments],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def update_difference(first: dict, second: dict, start: dict) -> float:
    """|update_1 - update_2| / |update_1| over the trained tensors, updates measured from
    ``start`` (running statistics left out: they are not trained)."""
    keys = [k for k in first if first[k].is_floating_point() and "running" not in k]
    one = torch.cat([(first[k].float() - start[k].float()).flatten() for k in keys])
    two = torch.cat([(second[k].float() - start[k].float()).flatten() for k in keys])
    return float((one - two).norm() / one.norm())


def losses(history: list[dict], key: str) -> list[float]:
    return [row[key] for row in history]


def test_classify_on_two_processes_trains_what_one_does_and_resumes_on_one(
    colour_classifier: Path, colour_folder: Path, tmp_path: Path
):
    options = [
        "--data", str(colour_folder), "--pretrained", str(colour_classifier), "--image-size",
        "16", "--batch-size", "12", "--lr", "0.001", "--sync-bn", "--no-progress",
    ]  # fmt: skip

    def one_process(output: Path, *extra: str) -> dict:
        config = parse_config("classify", [*options, "--output", str(output), *extra])
        return classify.train(config).card

    reference = tmp_path / "one.safetensors"
    first_epoch = one_process(reference, "--epochs", "1")
    reference_1 = load_file(reference)
    two_epochs = one_process(reference, "--epochs", "2", "--resume")

    shared = tmp_path / "two.safetensors"
    manifest = tmp_path / "manifest.json"
    log = torchrun(
        "classify", *options, "--epochs", "1", "--output", str(shared), "--manifest",
        str(manifest), "--name", "colours-ddp",
    )  # fmt: skip
    assert "on 2 processes (gloo, 1 node(s) x 2)" in log
    assert "batch 12 = 2 x 6" in log
    assert log.count("epoch 1:") == 1, "only rank 0 logs"
    source = load_file(colour_classifier)
    _, card = load_classifier_file(shared)  # servable
    assert update_difference(reference_1, load_file(shared), source) < 1e-2
    rows = card.info["metrics"]["epochs"]
    assert losses(rows, "train_loss") == pytest.approx(
        losses(first_epoch["metrics"]["epochs"], "train_loss"), rel=1e-3
    )
    assert card.info["world_size"] == 2
    assert card.info["distributed"]["batch_per_process"] == 6
    assert card.info["command"].startswith(
        "torchrun --standalone --nproc_per_node=2 -m models.train classify --data "
    )
    (entry,) = read_manifest(manifest)
    assert entry.name == "colours-ddp" and entry.info["world_size"] == 2

    # The two-process checkpoint resumes on one process into the one-process run.
    resumed = one_process(
        tmp_path / "resumed.safetensors", "--epochs", "2", "--resume", "--checkpoint",
        str(shared.with_suffix(".ckpt.pt")),
    )  # fmt: skip
    assert resumed["world_size"] == 1
    assert (
        update_difference(load_file(reference), load_file(tmp_path / "resumed.safetensors"), source)
        < 1e-2
    )
    assert losses(resumed["metrics"]["epochs"], "train_loss") == pytest.approx(
        losses(two_epochs["metrics"]["epochs"], "train_loss"), rel=1e-3
    )


def test_detect_on_two_processes_trains_what_one_does(squares: Path, tmp_path: Path):
    # All 40 images train (an even count: the sampler pads nothing) and validate.
    data = ["--data", str(squares), "--val-data", str(squares), "--class-names", "square",
            "--input-size", "64", "--batch-size", "8", "--no-progress"]  # fmt: skip
    start = tmp_path / "start.pt"
    detect.train(parse_config("detect", [*data, "--epochs", "2", "--output", str(start)]))
    # Fine-tuning from a trained detector: from scratch, rounding alone (one thread or two)
    # moves a TinySSD's first steps apart, and the comparison would measure chaos.
    tuning = [*data, "--init", str(start), "--lr", "0.02", "--epochs", "2", "--sync-bn"]
    single = detect.train(
        parse_config("detect", [*tuning, "--output", str(tmp_path / "one.pt")])
    ).card
    log = torchrun("detect", *tuning, "--output", str(tmp_path / "two.pt"))
    assert "on 2 processes (gloo, 1 node(s) x 2)" in log and "batch 8 = 2 x 4" in log
    shared = torch.load(tmp_path / "two.pt", weights_only=True)
    one = torch.load(tmp_path / "one.pt", weights_only=True)
    initial = torch.load(start, weights_only=True)["model"]
    # Rounding alone (one thread against two) gives about 0.05 here; BatchNorm on each
    # process's half of the batch (no --sync-bn) about 0.6, another seed about 0.95.
    assert update_difference(one["model"], shared["model"], initial) < 0.2
    rows = shared["metrics"]["epochs"]
    assert losses(rows, "loss") == pytest.approx(
        losses(single["metrics"]["epochs"], "loss"), rel=5e-3
    )
    assert shared["world_size"] == 2 and shared["distributed"]["sync_bn"] is True
    TinySSDDetector.load(tmp_path / "two.pt", torch.device("cpu"))  # servable


def test_word2vec_on_two_processes_trains_what_one_does(tmp_path: Path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    rng = random.Random(0)
    groups = [["cat", "dog", "cow", "pig"], ["saw", "axe", "drill", "hammer"]]
    lines = [" ".join(rng.choices(rng.choice(groups), k=8)) for _ in range(800)]
    (corpus / "ptb.train.txt").write_text("\n".join(lines) + "\n")
    options = [
        "--data", str(corpus), "--epochs", "2", "--embed-size", "8", "--min-freq", "1",
        "--subsample", "1", "--batch-size", "128", "--lr", "0.01", "--no-progress",
    ]  # fmt: skip

    def files(name: str) -> list[str]:
        return ["--output", str(tmp_path / f"{name}.safetensors"), "--checkpoint",
                str(tmp_path / f"{name}.pt")]  # fmt: skip

    word2vec.train(parse_config("word2vec", [*options, *files("one")]))
    log = torchrun("word2vec", *options, *files("two"))
    assert "on 2 processes" in log
    one = load_file(tmp_path / "one.safetensors")["embedding"]
    two = load_file(tmp_path / "two.safetensors")["embedding"]
    assert float((one - two).norm() / one.norm()) < 1e-4  # no BatchNorm: the same sums

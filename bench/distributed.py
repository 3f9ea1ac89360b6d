"""Training throughput on 1 and on N processes under torchrun, side by side in one run.

Each training command runs twice with the same options and the same effective batch, once as
``torchrun --standalone --nproc_per_node=1`` and once with ``--nproc_per_node=N`` (default:
every GPU, else 2 CPU processes), and the figure is the rate the command itself records for
its last epoch (images or examples per second, the first epoch's warm-up left out when there
are two). On a CPU the processes share its cores: torchrun gives each 1 thread when N > 1 and
the single process keeps torch's default (every core), so both runs use the whole machine.

    python -m bench.distributed [--processes 2] [--only classify-32 detect ...]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from bench.server import ROOT, machine, write_result
from models.text.word_vectors import read_word_vectors
from models.vision.classifier import load_classifier_file

# Relative to the repository (the commands run there), so the recorded commands name no
# path of this machine.
DATA = os.path.relpath(os.environ.get("D2L_DATA_DIR", ROOT.parent / "shared" / "data"), ROOT)

# name -> (the command and its options, the rate its output records per epoch)
RUNS: dict[str, tuple[list[str], str]] = {
    "classify-32": (
        ["classify", "--data", "hymenoptera", "--pretrained", "none", "--stem", "cifar",
         "--epochs", "2", "--image-size", "32", "--batch-size", "16"],
        "images_per_second",
    ),
    "classify-finetune-64": (
        ["classify", "--data", "hymenoptera", "--pretrained",
         "weights/resnet18-cifar10.safetensors", "--epochs", "2",
         "--image-size", "64", "--batch-size", "32", "--lr", "0.01", "--schedule", "cosine"],
        "images_per_second",
    ),
    "detect": (
        ["detect", "--data", f"{DATA}/sysu-logo", "--class-names", "logo", "--epochs", "1",
         "--batch-size", "32"],
        "examples_per_second",
    ),
    "word2vec": (
        ["word2vec", "--arch", "skipgram", "--epochs", "1", "--batch-size", "512"],
        "tokens_per_second",
    ),
}  # fmt: skip


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = torch.cuda.device_count() if torch.cuda.device_count() > 1 else 2
    parser.add_argument("--processes", type=int, default=default, help="N, against 1")
    parser.add_argument("--only", nargs="*", choices=sorted(RUNS), default=sorted(RUNS))
    parser.add_argument(
        "--output", type=Path, default=ROOT / "bench" / "results" / "distributed.json"
    )
    return parser


def recorded(output: Path, command: str) -> dict[str, Any]:
    """The record a training command wrote with its servable file (metrics, world size)."""
    if command == "classify":
        return load_classifier_file(output)[1].info
    if command == "word2vec":
        return read_word_vectors(output)[2]
    return torch.load(output, weights_only=True)


def train(name: str, processes: int, folder: Path) -> dict[str, Any]:
    options, rate_key = RUNS[name]
    suffix = ".pt" if options[0] == "detect" else ".safetensors"
    output = folder / f"{name}-{processes}{suffix}"
    extra = ["--output", str(output), "--no-progress"]
    if options[0] == "word2vec":
        extra += ["--checkpoint", str(folder / f"{name}-{processes}.ckpt.pt")]
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc_per_node={processes}", "-m", "models.train", *options, *extra]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{name} on {processes} process(es) failed:\n{done.stderr[-3000:]}")
    info = recorded(output, options[0])
    epochs = info["metrics"]["epochs"]
    last = epochs[-1]
    return {
        "processes": processes,
        "world_size": info["world_size"],
        rate_key: last[rate_key],
        "epoch_seconds": last["seconds"],
        "wall_seconds": round(wall, 1),
        "final_loss": last.get("train_loss", last.get("loss")),
        "command": info["command"].replace(str(folder), "$TMP"),
    }


def main(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {}
    document: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as temporary:
        for name in args.only:
            single = train(name, 1, Path(temporary))
            shared = train(name, args.processes, Path(temporary))
            rate_key = RUNS[name][1]
            speedup = shared[rate_key] / single[rate_key]
            results[name] = {"one": single, "many": shared, "speedup": round(speedup, 2)}
            print(
                f"{name}: {single[rate_key]:,.1f} {rate_key} on 1 process, "
                f"{shared[rate_key]:,.1f} on {args.processes} ({speedup:.2f}x)",
                flush=True,
            )
            # Written after each pair: a failure later keeps what was measured.
            document = {"machine": machine(), "processes": args.processes, "runs": results}
            write_result(document, args.output)
    return document


if __name__ == "__main__":
    main(get_args_parser().parse_args())

"""A job's options turned into the config the training command takes (``train(config)``):
the d2l recipe of each task with defaults that work on a CPU, the base model's file as the
starting point, the set's own held-out split or a deterministic one.

Classification defaults are ``resnet18-hymenoptera``'s recipe (fine-tuned from the CIFAR-10
source: new Xavier head at 10x the body's learning rate, 64-pixel inputs, 20 epochs, cosine),
so that recipe run through the API reproduces that model.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.data.detection_csv import validation_split
from models.manifest import ManifestEntry
from models.train.config import ClassifyConfig, DetectConfig, TrainConfig, Word2VecConfig

DEFAULTS: dict[str, dict[str, Any]] = {
    "classify": {"epochs": 20, "batch_size": 32, "lr": 0.01, "input_size": 64},
    "detect": {"epochs": 20, "batch_size": 16, "lr": 0.05, "input_size": 256},
    "detect-rcnn": {"epochs": 10, "batch_size": 4, "lr": 0.01, "input_size": 320},
    "word2vec": {"epochs": 5, "batch_size": 512, "lr": 0.002},
}
BASE_DEFAULTS = {"classify": "resnet18-cifar10", "detect": "tinyssd-logo", "word2vec": None}


@dataclass(frozen=True)
class JobPaths:
    """A job's own folder: its data view, checkpoint and output."""

    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def checkpoint(self) -> Path:
        return self.root / "checkpoint.pt"

    def output(self, suffix: str) -> Path:
        return self.root / f"model{suffix}"


def build_config(
    task: str,
    options: dict[str, Any],
    dataset: Path,
    base: ManifestEntry | None,
    paths: JobPaths,
) -> TrainConfig:
    """The training config of a job (raises ``TrainingError`` for options that do not fit)."""
    common = {
        "seed": options["seed"],
        "device": options.get("device", "auto"),
        "checkpoint": paths.checkpoint,
        "resume": "auto",  # a restarted job goes on from its last epoch
        "no_progress": True,
    }
    if task == "classify":
        defaults = DEFAULTS["classify"]
        data = image_split(dataset, paths.data, options["val_fraction"])
        return ClassifyConfig(
            data=str(data),
            pretrained=str(base.file) if base else "none",
            stem=None if base else "imagenet",
            epochs=options.get("epochs") or defaults["epochs"],
            batch_size=options.get("batch_size") or defaults["batch_size"],
            lr=options.get("lr") or defaults["lr"],
            head_lr_mult=options["head_lr_ratio"] if base else 1.0,
            weight_decay=1e-3,
            momentum=0.9,
            schedule="cosine",
            input_size=options.get("input_size") or defaults["input_size"],
            half=True,
            output=paths.output(".safetensors"),
            **common,
        )
    if task == "detect":
        arch = base.card.architecture if base else "tinyssd"
        rcnn = arch in {"fasterrcnn", "maskrcnn"}
        if arch == "maskrcnn":  # user sets carry boxes, not masks: its Faster R-CNN part
            arch = "fasterrcnn"
        defaults = DEFAULTS["detect-rcnn" if rcnn else "detect"]
        info = base.info if base else {}
        classes = json.loads((dataset / "classes.json").read_text())
        return DetectConfig(
            data=dataset,
            val_fraction=options["val_fraction"],
            init=base.file if base else None,
            class_names=",".join(classes),
            arch=arch,
            backbone=info.get("backbone") or ("resnet18" if rcnn else "mobilenet_v3"),
            roi_op=info.get("roi_op") or "align",
            epochs=options.get("epochs") or defaults["epochs"],
            batch_size=options.get("batch_size") or defaults["batch_size"],
            lr=options.get("lr") or defaults["lr"],
            momentum=0.9,
            weight_decay=1e-4 if rcnn else 5e-4,
            schedule="cosine",
            input_size=options.get("input_size")
            or info.get("input_size")
            or defaults["input_size"],
            half=True,
            output=paths.output(".pt"),
            **common,
        )
    defaults = DEFAULTS["word2vec"]
    return Word2VecConfig(
        data=dataset / "sentences.txt",
        arch=options.get("arch") or "skipgram",
        epochs=options.get("epochs") or defaults["epochs"],
        batch_size=options.get("batch_size") or defaults["batch_size"],
        lr=options.get("lr") or defaults["lr"],
        min_freq=options.get("min_count") or 5,
        output=paths.output(".safetensors"),
        **common,
    )


def image_split(dataset: Path, view: Path, fraction: float) -> Path:
    """``dataset`` as the classify command reads it: as it is when it holds a ``val/``
    split, else a view (hard links) with ``fraction`` of each class held out by file-name
    hash (the same images whatever the machine or the seed)."""
    if (dataset / "val").is_dir():
        return dataset
    if view.exists():
        shutil.rmtree(view)
    for class_dir in sorted((dataset / "train").iterdir()):
        files = sorted(p for p in class_dir.iterdir() if p.is_file())
        held = [p for p in files if validation_split(f"{class_dir.name}/{p.name}", fraction)]
        if not held or len(held) == len(files):  # every class on both sides
            held = files[-1:] if len(files) > 1 else []
        for path in files:
            split = "val" if path in held else "train"
            target = view / split / class_dir.name / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(path, target)
            except OSError:
                shutil.copy2(path, target)
    return view

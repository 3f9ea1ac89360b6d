"""The typed configuration of each training task, and the error a run raises.

A config is what ``train(config)`` needs and nothing else: the command line builds one
(``models/train/cli.py``), and so can any caller (a training job of the service, a test). Field
names are the command's options (``--input-size`` is ``input_size``), so the command a run
records reproduces it. Each config checks itself when made and raises
:class:`TrainingError` naming the bad value.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Literal

SCHEDULES = ("constant", "cosine", "onecycle")
LR_SCALINGS = ("none", "linear", "sqrt")
AUTO = "auto"  # --resume with no path: the run's own checkpoint, when there is one


class TrainingError(ValueError):
    """A run cannot start or go on: the message says what is wrong and how to fix it. The
    command line prints it and exits; a caller in the service reports it."""


@dataclass
class TrainConfig:
    """What every training task shares: how long and how fast, where, which files, how the
    batch is split across processes (``torchrun``) and how to resume."""

    epochs: int = 5
    batch_size: int = 128
    lr: float = 0.01
    schedule: str = "constant"
    device: str = "auto"
    seed: int = 0
    output: Path | None = None
    checkpoint: Path | None = None
    # A training checkpoint to continue from; AUTO: this run's checkpoint if it exists.
    resume: Path | Literal["auto"] | None = None
    manifest: Path | None = None
    name: str | None = None
    no_progress: bool = False
    lr_scaling: str = "none"
    lr_base_batch: int | None = None

    def __post_init__(self) -> None:
        for option in fields(self):  # paths given as text, as a caller or JSON gives them
            value = getattr(self, option.name)
            if "Path" in str(option.type) and option.name != "resume":
                if "list" in str(option.type) and isinstance(value, str | Path):
                    setattr(self, option.name, [Path(value)])
                elif isinstance(value, str):
                    setattr(self, option.name, Path(value))
                elif isinstance(value, list):
                    setattr(self, option.name, [Path(item) for item in value])
        if self.epochs < 1:
            raise TrainingError(f"--epochs {self.epochs}: at least 1")
        if self.batch_size < 1:
            raise TrainingError(f"--batch-size {self.batch_size}: at least 1")
        if not self.lr >= 0:
            raise TrainingError(f"--lr {self.lr}: a learning rate, 0 or more")
        if self.schedule not in SCHEDULES:
            raise TrainingError(f"--schedule {self.schedule}: one of {', '.join(SCHEDULES)}")
        if self.lr_scaling not in LR_SCALINGS:
            raise TrainingError(f"--lr-scaling {self.lr_scaling}: one of {', '.join(LR_SCALINGS)}")
        if self.lr_base_batch is not None and self.lr_base_batch < 1:
            raise TrainingError(f"--lr-base-batch {self.lr_base_batch}: a batch size, at least 1")
        if isinstance(self.resume, str) and self.resume != AUTO:
            self.resume = Path(self.resume)


@dataclass
class ClassifyConfig(TrainConfig):
    """A ResNet-18 from scratch or fine-tuned the d2l way (new head at ``head_lr_mult`` times
    the body's learning rate)."""

    data: str = "cifar10"
    pretrained: str = "none"
    stem: str | None = None
    batch_size: int = 128
    lr: float = 5e-5
    head_lr_mult: float = 10.0
    weight_decay: float = 1e-3
    momentum: float = 0.9
    label_smoothing: float = 0.0
    input_size: int = 224
    resize_size: int | None = None
    train_crop: str = "resized"
    min_scale: float = 0.08
    random_erasing: float = 0.0
    freeze_body: bool = False
    amp: bool = False
    half: bool = False
    sync_bn: bool = False
    output: Path | None = Path("runs") / "classifier.safetensors"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.random_erasing <= 1.0:
            raise TrainingError(f"--random-erasing {self.random_erasing}: a probability, 0 to 1")
        if self.input_size < 8:
            raise TrainingError(f"--input-size {self.input_size}: at least 8 pixels")


RCNN_ARCHS = frozenset({"fasterrcnn", "maskrcnn"})
MASK_ARCHS = frozenset({"maskrcnn"})


@dataclass
class DetectConfig(TrainConfig):
    """TinySSD, a Faster R-CNN or a Mask R-CNN on a detection set in d2l's CSV layout (Mask
    R-CNN: with each image's masks, see :func:`models.data.detection_csv.read_instance_masks`)."""

    data: Path | None = None
    val_data: Path | None = None
    val_fraction: float = 0.1
    synthetic: list[Path] = field(default_factory=list)
    train_negatives: list[Path] = field(default_factory=list)
    photos: Path | None = None
    photo_labels: Path | None = None
    negatives: list[Path] = field(default_factory=list)
    init: Path | None = None
    tiling: bool = False
    class_names: str | None = None
    arch: str = "tinyssd"
    pretrained: str = "none"
    backbone: str = "mobilenet_v3"
    backbone_weights: Path | None = None
    roi_op: str = "align"
    train_proposals: int | None = None
    freeze: str = "none"
    epochs: int = 20
    batch_size: int = 32
    lr: float = 0.2
    weight_decay: float = 5e-4
    momentum: float = 0.0
    hard_negatives: int | None = None
    anchor_sizes: str | None = None
    input_size: int = 256
    input_shape: str | None = None
    no_augment: bool = False
    half: bool = False
    sync_bn: bool = False
    output: Path | None = Path("runs") / "tinyssd.pt"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.arch not in RCNN_ARCHS | {"tinyssd"}:
            raise TrainingError(f"--arch {self.arch}: tinyssd, fasterrcnn or maskrcnn")
        if self.input_shape is None:
            self.input_shape = "photo" if self.arch in RCNN_ARCHS else "square"
        if self.input_shape == "photo" and self.arch not in RCNN_ARCHS:
            raise TrainingError(
                "--input-shape photo needs --arch fasterrcnn or maskrcnn (TinySSD sees squares)"
            )
        if self.arch in MASK_ARCHS and self.backbone != "resnet18":
            raise TrainingError("--arch maskrcnn is built on --backbone resnet18")
        if self.freeze not in {"none", "detector", "body"}:
            raise TrainingError(f"--freeze {self.freeze}: none, detector or body")
        if self.freeze == "detector" and (self.arch not in MASK_ARCHS or self.init is None):
            raise TrainingError(
                "--freeze detector trains a Mask R-CNN's mask branch alone: it needs "
                "--arch maskrcnn and --init (the detector it keeps)"
            )
        if self.freeze == "body" and (
            self.arch not in RCNN_ARCHS or self.backbone != "resnet18" or self.init is None
        ):
            raise TrainingError(
                "--freeze body keeps the ResNet-18 body of --init: it needs --arch fasterrcnn "
                "or maskrcnn, --backbone resnet18 and --init"
            )


@dataclass
class Word2VecConfig(TrainConfig):
    """Skip-gram or CBOW with negative sampling on the Penn Treebank."""

    arch: str = "skipgram"
    data: Path | None = None
    split: str = "train"
    embed_size: int = 100
    batch_size: int = 512
    lr: float = 0.002
    max_window: int = 5
    num_noise: int = 5
    min_freq: int = 10
    subsample: float = 1e-4
    output: Path | None = None  # runs/word2vec-<arch>-ptb.safetensors

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.output is None:
            self.output = Path("runs") / f"word2vec-{self.arch}-ptb.safetensors"

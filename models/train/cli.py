"""The training commands' command lines: ``python -m models.train classify|detect|word2vec``.

Each parser builds its task's typed config (``models/train/config.py``, where the defaults
live) and hands it to the task's ``train``; a :class:`TrainingError` is printed and the process
exits. Nothing else in ``models/train`` parses arguments. Options every command shares are
spelled the same: ``--input-size``, ``--resume [PATH]``, ``--schedule``; the older spellings
(``--image-size``, ``--cosine``) still parse, so recorded commands replay.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

from models.data.ptb import SPLITS
from models.text.word2vec import ARCHS
from models.train.config import (
    AUTO,
    LR_SCALINGS,
    SCHEDULES,
    ClassifyConfig,
    DetectConfig,
    TrainConfig,
    TrainingError,
    Word2VecConfig,
)
from models.vision.classifier import STEMS

CONFIGS: dict[str, type[TrainConfig]] = {
    "classify": ClassifyConfig,
    "detect": DetectConfig,
    "word2vec": Word2VecConfig,
}


def _parser(description: str) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(
        description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )


def _add_common(
    parser: argparse.ArgumentParser,
    checkpoint_default: str,
    unit: str,
    lr_help: str,
    batchnorm: bool = False,
) -> None:
    """The options every training command has, spelled alike (``unit``: what a batch holds)."""
    parser.add_argument("--epochs", type=int)
    parser.add_argument(
        "--batch-size",
        type=int,
        help=f"{unit} per step over all processes (under torchrun each takes its share)",
    )
    parser.add_argument("--lr", type=float, help=lr_help)
    parser.add_argument(
        "--schedule",
        choices=SCHEDULES,
        help="learning-rate schedule (onecycle: --lr is the peak)",
    )
    parser.add_argument(
        "--cosine",
        action="store_const",
        const="cosine",
        dest="schedule",
        help="the same as --schedule cosine",
    )
    parser.add_argument("--device", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--seed", type=int)
    parser.add_argument(
        "--checkpoint",
        type=Path,
        help=f"training state written every epoch (default: {checkpoint_default})",
    )
    parser.add_argument(
        "--resume",
        nargs="?",
        const=AUTO,
        metavar="PATH",
        help="continue from the training checkpoint PATH; with no PATH, from --checkpoint "
        "when it exists",
    )
    parser.add_argument("--manifest", type=Path, help="also list the model here")
    parser.add_argument("--name", help="model name in the manifest")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument(
        "--lr-scaling",
        choices=LR_SCALINGS,
        help="scale the learning rate with --batch-size / --lr-base-batch (linear: Goyal et "
        "al.'s rule for SGD; sqrt: for Adam)",
    )
    parser.add_argument(
        "--lr-base-batch",
        type=int,
        help="the batch size --lr is meant for (None: the default --batch-size)",
    )
    if batchnorm:
        parser.add_argument(
            "--sync-bn",
            action="store_true",
            help="under torchrun: BatchNorm statistics over the whole batch, not each "
            "process's share (what one process would compute)",
        )


def classify_parser() -> argparse.ArgumentParser:
    parser = _parser("Train a ResNet-18 classifier from scratch or fine-tune one (d2l's recipe).")
    parser.add_argument(
        "--data",
        help="ImageFolder folder or .zip (train/ and val/ or test/), or a known set: cifar10, "
        "hymenoptera, hotdog ($D2L_DATA_DIR first, else downloaded)",
    )
    parser.add_argument(
        "--pretrained",
        help="none, imagenet (torchvision's weights) or the path of a source checkpoint",
    )
    parser.add_argument(
        "--stem",
        choices=STEMS,
        help="with --pretrained none: 'cifar' = 3x3 stride-1 first conv, no max-pool "
        "(default: imagenet, torchvision's); otherwise the source model's",
    )
    parser.add_argument(
        "--head-lr-mult",
        type=float,
        help="the output layer learns this many times faster (d2l: 10; 1 = one group)",
    )
    parser.add_argument("--weight-decay", type=float)
    parser.add_argument("--momentum", type=float)
    parser.add_argument("--label-smoothing", type=float)
    parser.add_argument(
        "--input-size", "--image-size", type=int, dest="input_size", help="side of the square input"
    )
    parser.add_argument(
        "--resize-size",
        type=int,
        help="evaluation resizes the shorter side to this, then centre-crops (default: "
        "image size / 0.875)",
    )
    parser.add_argument(
        "--train-crop",
        choices=("resized", "padded"),
        help="resized: random resized crop + flip (d2l); padded: pad by 1/8 + random crop + "
        "flip (CIFAR's usual)",
    )
    parser.add_argument("--min-scale", type=float, help="smallest crop area, resized crops")
    parser.add_argument(
        "--random-erasing",
        type=float,
        help="probability of erasing a random rectangle of each training image to the mean "
        "colour (cutout; regularises long from-scratch runs)",
    )
    parser.add_argument("--freeze-body", action="store_true", help="train the new head only")
    parser.add_argument(
        "--amp", action="store_true", help="bfloat16 autocast (CPUs with AVX-512 BF16, GPUs)"
    )
    parser.add_argument("--output", type=Path)
    parser.add_argument(
        "--half", action="store_true", help="store float16 weights (accuracy of both recorded)"
    )
    _add_common(
        parser, "--output with .ckpt.pt", "images", "learning rate of the body", batchnorm=True
    )
    return parser


def detect_parser() -> argparse.ArgumentParser:
    parser = _parser("Train TinySSD or a Faster R-CNN on a detection set in d2l's CSV layout.")
    parser.add_argument(
        "--data",
        type=Path,
        help="folder with label.csv and the images (default: d2l's banana-detection, "
        "bananas_train, from $D2L_DATA_DIR or the data hub)",
    )
    parser.add_argument(
        "--val-data", type=Path, help="a labelled validation folder (default: "
        "bananas_val for bananas, else a fixed hash split of --data)",
    )  # fmt: skip
    parser.add_argument("--val-fraction", type=float)
    parser.add_argument(
        "--synthetic",
        type=Path,
        nargs="*",
        help="more training folders in the same layout, all used for training "
        "(python -m models.data.synthesize writes them)",
    )
    parser.add_argument(
        "--train-negatives",
        type=Path,
        nargs="*",
        help="folders of photos without the object, trained on as images with no boxes "
        "(keep them apart from --negatives, which measures false alarms)",
    )
    parser.add_argument(
        "--photos",
        type=Path,
        help="real photos to report recall on each epoch (never trained on), with --photo-labels",
    )
    parser.add_argument("--photo-labels", type=Path)
    parser.add_argument(
        "--negatives",
        type=Path,
        nargs="*",
        help="folders of photos without the object, never trained on: boxes on them are false "
        "alarms (reported per 100 photos)",
    )
    parser.add_argument("--init", type=Path, help="start from these weights")
    parser.add_argument(
        "--tiling", action="store_true", help="serve (and evaluate photos) whole and in 2x2 tiles"
    )
    parser.add_argument("--class-names", help="comma-separated, by label id")
    parser.add_argument(
        "--arch",
        choices=("tinyssd", "fasterrcnn", "maskrcnn"),
        help="maskrcnn: Faster R-CNN with a mask branch (--backbone resnet18; the data need "
        "masks/, as python -m models.data.synthesize writes them)",
    )
    parser.add_argument(
        "--pretrained",
        choices=("none", "coco"),
        help="fasterrcnn only: start from torchvision's COCO weights (downloaded once)",
    )
    parser.add_argument("--backbone", choices=("mobilenet_v3", "resnet18"))
    parser.add_argument("--backbone-weights", type=Path, help="a classifier file")
    parser.add_argument("--roi-op", choices=("align", "pool"), help="box head")
    parser.add_argument(
        "--train-proposals",
        type=int,
        help="fasterrcnn: region proposals per training image (default: the model's, 600 for "
        "resnet18); as few as the box head samples (128) makes its negatives the RPN's most "
        "object-like regions, a form of hard negative mining",
    )
    parser.add_argument(
        "--freeze",
        choices=("none", "detector", "body"),
        help="maskrcnn: 'detector' trains the mask branch alone, the detector of --init (its "
        "boxes, scores and thresholds) kept as it is; 'body' (R-CNNs) trains all but the "
        "ResNet-18 body of --init. Either saves only what it trained, naming the --init file "
        "(or the one it names) that holds the rest",
    )
    parser.add_argument("--weight-decay", type=float)
    parser.add_argument("--momentum", type=float)
    parser.add_argument(
        "--hard-negatives",
        type=int,
        help="SSD's hard negative mining: count k negatives per positive (default: the "
        "book's loss over every anchor)",
    )
    parser.add_argument(
        "--anchor-sizes",
        help="sizes per scale, scales separated by ';', e.g. '0.06,0.1;0.14,0.2;0.26,0.34;"
        "0.42,0.52;0.66,0.84' (default: the book's)",
    )
    parser.add_argument("--input-size", type=int)
    parser.add_argument(
        "--input-shape",
        choices=("square", "photo"),
        help="training images squashed to input-size squares, or in their own shape with the "
        "shorter side at input-size (default: square for tinyssd, photo for fasterrcnn: each "
        "as it is served)",
    )
    parser.add_argument("--no-augment", action="store_true", help="train on the images as they are")
    parser.add_argument("--output", type=Path)
    parser.add_argument("--half", action="store_true", help="store the weights in float16")
    _add_common(
        parser, "--output with .ckpt.pt", "images", "SGD learning rate (the book's)", batchnorm=True
    )
    return parser


def word2vec_parser() -> argparse.ArgumentParser:
    parser = _parser("Train word2vec with negative sampling on the Penn Treebank.")
    parser.add_argument("--arch", choices=ARCHS)
    parser.add_argument(
        "--data",
        type=Path,
        help="ptb.zip or a folder with ptb.<split>.txt (default: $D2L_DATA_DIR/ptb/ptb.zip, "
        "the download cache, then d2l's data hub)",
    )
    parser.add_argument("--split", choices=SPLITS)
    parser.add_argument("--embed-size", type=int)
    parser.add_argument("--max-window", type=int, help="largest context window")
    parser.add_argument("--num-noise", type=int, help="noise words per true pair")
    parser.add_argument("--min-freq", type=int, help="rarer words become <unk>")
    parser.add_argument("--subsample", type=float, help="t of the subsampling")
    parser.add_argument(
        "--output",
        type=Path,
        help="the servable vectors (default: runs/word2vec-<arch>-ptb.safetensors)",
    )
    _add_common(parser, "runs/<output name>.pt", "examples", "Adam learning rate")
    return parser


PARSERS = {"classify": classify_parser, "detect": detect_parser, "word2vec": word2vec_parser}


def defaults(config_type: type[TrainConfig]) -> dict[str, Any]:
    """The config's field defaults (before ``__post_init__`` derives any), for a parser."""
    chosen = {}
    for field in dataclasses.fields(config_type):
        if field.default is not dataclasses.MISSING:
            chosen[field.name] = field.default
        elif field.default_factory is not dataclasses.MISSING:
            chosen[field.name] = field.default_factory()
    return chosen


def get_parser(kind: str) -> argparse.ArgumentParser:
    """The command line of ``python -m models.train KIND``, its defaults the config's."""
    parser = PARSERS[kind]()
    parser.prog = f"python -m models.train {kind}"
    parser.set_defaults(**defaults(CONFIGS[kind]))
    return parser


def parse_config(kind: str, argv: list[str]) -> TrainConfig:
    """The config ``argv`` describes (argparse exits on a malformed option; the config raises
    :class:`TrainingError` on a bad value)."""
    return CONFIGS[kind](**vars(get_parser(kind).parse_args(argv)))


def run(argv: list[str]) -> Any:
    """``python -m models.train KIND [options]``: parse, train, exit with the message of a
    :class:`TrainingError`."""
    from models.train import classify, detect, word2vec  # noqa: PLC0415 - torch-heavy

    tasks = {"classify": classify.train, "detect": detect.train, "word2vec": word2vec.train}
    if not argv or argv[0] not in tasks:
        names = ", ".join(tasks)
        sys.exit(f"usage: python -m models.train {{{names}}} [options]  (--help after a name)")
    try:
        return tasks[argv[0]](parse_config(argv[0], argv[1:]))
    except TrainingError as error:
        sys.exit(f"{argv[0]}: {error}")

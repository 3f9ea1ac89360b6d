"""Train TinySSD or a Faster R-CNN on a detection set in d2l's CSV layout.

    python -m models.train detect --data ../shared/data/sysu-logo --class-names logo \\
        --epochs 20 --output weights/tinyssd-logo.pt
    # several processes: torchrun --standalone --nproc_per_node=N -m models.train detect ...

Each epoch reports the book's figures on the training batches (class error, bbox MAE) and, on
the validation split, the same two plus mAP@0.5 and mAP@[.5:.95] from torchmetrics'
MeanAveragePrecision (pycocotools). The servable file holds the weights, the epoch, the
arguments, the class names, the model's design (anchors or Faster R-CNN body) and the metrics;
``.ckpt.pt`` beside it adds the optimizer and schedule for ``--resume``; a PNG of the training
curves is written next to them.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from models.data.detection_csv import DetectionSample
from models.device import describe_device
from models.train import distributed
from models.train.detect_data import collate, load_detection_data, rcnn_batch
from models.train.detect_eval import evaluate
from models.train.detect_model import build_detector, rcnn_design
from models.train.distributed import Runtime, example_rng
from models.train.engine import (
    batch_starts,
    command_line,
    list_in_manifest,
    make_schedule,
    plain_args,
    plot_curves,
    resume,
    run_summary,
    save_checkpoint,
)
from models.train.photo_eval import LABELLED_PHOTOS, evaluate_photos
from models.vision.detection.ssd import TinySSD, ssd_loss
from models.vision.transforms import DetectionAugmentation

NOT_RECORDED = frozenset({"no_progress", "resume", "checkpoint", "photo_labels"})
DEFAULT_BATCH = 32
CURVES = [
    [("loss", "training loss")],
    [
        ("class_error", "class error (train)"),
        ("val_class_error", "class error (val)"),
        ("bbox_mae", "bbox MAE (train)"),
        ("val_bbox_mae", "bbox MAE (val)"),
    ],
    [("map_50", "val mAP@0.5"), ("map", "val mAP@[.5:.95]")],
]


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Train TinySSD on a detection set in d2l's CSV layout.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="folder with label.csv and the images (default: d2l's banana-detection, "
        "bananas_train, from $D2L_DATA_DIR or the data hub)",
    )
    parser.add_argument(
        "--val-data", type=Path, default=None, help="a labelled validation folder (default: "
        "bananas_val for bananas, else a fixed hash split of --data)",
    )  # fmt: skip
    parser.add_argument("--val-fraction", type=float, default=0.1)
    parser.add_argument(
        "--synthetic",
        type=Path,
        nargs="*",
        default=[],
        help="more training folders in the same layout, all used for training "
        "(python -m models.data.synthesize writes them)",
    )
    parser.add_argument(
        "--train-negatives",
        type=Path,
        nargs="*",
        default=[],
        help="folders of photos without the object, trained on as images with no boxes "
        "(keep them apart from --negatives, which measures false alarms)",
    )
    parser.add_argument(
        "--photos",
        type=Path,
        default=None,
        help="real photos to report recall on each epoch (never trained on), with --photo-labels",
    )
    parser.add_argument("--photo-labels", type=Path, default=LABELLED_PHOTOS)
    parser.add_argument(
        "--negatives",
        type=Path,
        default=None,
        help="real photos without the object: boxes on them are false alarms",
    )
    parser.add_argument("--init", type=Path, default=None, help="start from these weights")
    parser.add_argument(
        "--tiling", action="store_true", help="serve (and evaluate photos) whole and in 2x2 tiles"
    )
    parser.add_argument("--class-names", default=None, help="comma-separated, by label id")
    parser.add_argument("--arch", choices=("tinyssd", "fasterrcnn"), default="tinyssd")
    parser.add_argument(
        "--pretrained",
        choices=("none", "coco"),
        default="none",
        help="fasterrcnn only: start from torchvision's COCO weights (downloaded once)",
    )
    parser.add_argument("--backbone", choices=("mobilenet_v3", "resnet18"), default="mobilenet_v3")
    parser.add_argument("--backbone-weights", type=Path, default=None, help="a classifier file")
    parser.add_argument("--roi-op", choices=("align", "pool"), default="align", help="box head")
    parser.add_argument(
        "--train-proposals",
        type=int,
        default=None,
        help="fasterrcnn: region proposals per training image (default: the model's, 600 for "
        "resnet18); as few as the box head samples (128) makes its negatives the RPN's most "
        "object-like regions, a form of hard negative mining",
    )
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULT_BATCH,
        help="images per step over all processes (under torchrun each takes its share)",
    )
    parser.add_argument("--lr", type=float, default=0.2, help="SGD learning rate (the book's)")
    parser.add_argument("--weight-decay", type=float, default=5e-4)
    parser.add_argument("--momentum", type=float, default=0.0)
    parser.add_argument("--cosine", action="store_true", help="cosine learning-rate decay")
    parser.add_argument(
        "--hard-negatives",
        type=int,
        default=None,
        help="SSD's hard negative mining: count k negatives per positive (default: the "
        "book's loss over every anchor)",
    )
    parser.add_argument(
        "--anchor-sizes",
        default=None,
        help="sizes per scale, scales separated by ';', e.g. '0.06,0.1;0.14,0.2;0.26,0.34;"
        "0.42,0.52;0.66,0.84' (default: the book's)",
    )
    parser.add_argument("--input-size", type=int, default=256)
    parser.add_argument(
        "--input-shape",
        choices=("square", "photo"),
        default=None,
        help="training images squashed to input-size squares, or in their own shape with the "
        "shorter side at input-size (default: square for tinyssd, photo for fasterrcnn: each "
        "as it is served)",
    )
    parser.add_argument("--no-augment", action="store_true", help="train on the images as they are")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=Path("runs") / "tinyssd.pt")
    parser.add_argument("--half", action="store_true", help="store the weights in float16")
    parser.add_argument("--manifest", type=Path, default=None, help="also list the model here")
    parser.add_argument("--name", default=None, help="model name in the manifest")
    parser.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        help="training state written every epoch (default: --output with .ckpt.pt)",
    )
    parser.add_argument("--resume", action="store_true", help="continue from --checkpoint")
    parser.add_argument("--no-progress", action="store_true")
    distributed.add_arguments(parser, batchnorm=True)
    return parser


def main(args: argparse.Namespace) -> dict[str, Any]:
    if args.epochs < 1:
        raise SystemExit("--epochs must be at least 1")
    if args.input_shape is None:
        args.input_shape = "photo" if args.arch == "fasterrcnn" else "square"
    if args.input_shape == "photo" and args.arch != "fasterrcnn":
        raise SystemExit("--input-shape photo needs --arch fasterrcnn (TinySSD sees squares)")
    runtime = distributed.start(args.device)
    info = train(args, runtime)
    runtime.close()
    return info


def train(args: argparse.Namespace, runtime: Runtime) -> dict[str, Any]:
    """The run on this process (one of ``runtime.world_size``): all of them train, rank 0
    evaluates (mAP and photo recall go through the serving path on whole sets) and writes."""
    torch.manual_seed(args.seed)
    device = runtime.device
    local_batch = runtime.local_batch(args.batch_size)
    train_set, val_set, source = load_detection_data(args)
    num_classes = max(int(s.labels.max()) for s in train_set + val_set if len(s.labels)) + 1
    names = (
        args.class_names.split(",")
        if args.class_names
        else [f"class_{i}" for i in range(num_classes)]
    )
    if len(names) != num_classes:
        raise SystemExit(f"--class-names gives {len(names)} names for {num_classes} label ids")
    model = build_detector(args, num_classes)
    model = distributed.prepare(model, runtime, args.sync_bn).to(device)
    lr = distributed.scaled_lr(args, DEFAULT_BATCH)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=lr, momentum=args.momentum, weight_decay=args.weight_decay
    )
    schedule = make_schedule("cosine" if args.cosine else "constant", optimizer, args.epochs)
    augment = (
        None
        if args.no_augment
        else DetectionAugmentation(args.input_size, keep_aspect=args.input_shape == "photo")
    )
    history: list[dict[str, float]] = []
    checkpoint = args.checkpoint or args.output.with_suffix(".ckpt.pt")
    if args.resume and checkpoint.is_file():
        history = resume(checkpoint, device, model, optimizer, schedule)
    trained = runtime.wrap(model)
    print(
        f"{args.arch}: {len(train_set)} training and {len(val_set)} validation images, "
        f"{num_classes} class(es), on {runtime.describe()}, {describe_device(device)}; batch "
        f"{args.batch_size} = {runtime.world_size} x {local_batch}, lr {lr:g} "
        f"(scaling {args.lr_scaling})"
    )

    quiet = args.no_progress or not runtime.is_main
    for epoch in range(len(history), args.epochs):
        started = time.perf_counter()
        trained.train()
        order = runtime.shard(len(train_set), args.seed, epoch)
        totals: dict[str, float] = {}
        batches = batch_starts(len(order), local_batch, epoch, args.epochs, quiet)
        for start in batches:
            indices = order[start : start + local_batch]
            chosen = [augmented(augment, train_set[i], args.seed, epoch, i) for i in indices]
            loss, figures = training_loss(args, trained, model, chosen, device)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            for key, value in {"loss": loss.item(), **figures}.items():
                totals[key] = totals.get(key, 0.0) + value * len(chosen)
            batches.set_postfix(loss=f"{loss.item():.4f}")
        schedule.step()
        keys = sorted(totals)
        *sums, seen = runtime.sum([totals[key] for key in keys] + [len(order)])
        seconds = time.perf_counter() - started
        row = {key: value / seen for key, value in zip(keys, sums, strict=True)}
        row |= runtime.share(validation(args, model, val_set, names, device, runtime))
        row |= {
            "epoch": epoch + 1,
            "seconds": round(seconds, 2),
            "examples_per_second": round(len(train_set) / seconds, 1),
        }
        history.append(row)
        shown = {k: v for k, v in row.items() if k not in {"epoch", "seconds"}}
        print(f"epoch {epoch + 1}: " + ", ".join(f"{k} {v:.4g}" for k, v in shown.items()))
        if runtime.is_main:
            save_checkpoint(checkpoint, model, optimizer, args, history, schedule)
            save_detector(args, model, names, history, source, runtime, lr)
    info = None
    if runtime.is_main:
        rounded = None
        if args.half:  # record what the float16 file does, not what the float32 model did
            with torch.no_grad():
                for tensor in model.state_dict().values():
                    if tensor.is_floating_point():
                        tensor.copy_(tensor.half())
            rounded = validation(args, model, val_set, names, device, runtime)
        info = save_detector(args, model, names, history, source, runtime, lr, rounded)
        plot_curves(history, CURVES, args.output.with_suffix(".png"), log_scale=[1])
        name = args.name or args.output.stem
        card = {k: v for k, v in info.items() if k not in {"arch", "class_names"}}
        card |= {"architecture": args.arch, "classes": names}
        list_in_manifest(args.manifest, name, "detect", args.output, **card)
        print(f"wrote {args.output} and {args.output.with_suffix('.png')}")
    return runtime.share(info)


def validation(
    args: argparse.Namespace,
    model: torch.nn.Module,
    val_set: list[DetectionSample],
    names: list[str],
    device: torch.device,
    runtime: Runtime,
) -> dict[str, float] | None:
    """On rank 0 (``None`` elsewhere): the validation figures and those on real photos."""
    if not runtime.is_main:
        return None
    return evaluate(model, val_set, args.input_size, device) | evaluate_photos(
        args, model, names, device
    )


def augmented(
    augment: DetectionAugmentation | None,
    sample: DetectionSample,
    seed: int,
    epoch: int,
    index: int,
) -> DetectionSample:
    """Example ``index``'s augmentation in ``epoch``: the same on whichever process draws it."""
    if augment is None:
        return sample
    with example_rng(seed, epoch, index):
        image, boxes, labels = augment(sample.image, sample.boxes, sample.labels)
    return replace(sample, image=image, boxes=boxes, labels=labels)


def training_loss(
    args: argparse.Namespace,
    trained: torch.nn.Module,
    model: torch.nn.Module,
    samples: list[DetectionSample],
    device: torch.device,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The loss of a batch of (augmented) samples through ``trained`` (``model``, or it under
    DDP), and the book's figures for TinySSD."""
    if args.arch == "fasterrcnn":
        images, targets = rcnn_batch(samples, None)
        losses = trained(
            [image.to(device) for image in images],
            [{key: value.to(device) for key, value in t.items()} for t in targets],
        )
        return sum(losses.values()), {}
    images, labels = collate(samples, None, args.input_size)
    cls_logits, offsets = trained(images.to(device))
    result = ssd_loss(cls_logits, offsets, model.anchors, labels.to(device), args.hard_negatives)
    return result.loss, {"class_error": result.class_error, "bbox_mae": result.bbox_mae}


def save_detector(
    args: argparse.Namespace,
    model: torch.nn.Module,
    names: list[str],
    history: list[dict[str, float]],
    source: dict[str, Any],
    runtime: Runtime,
    lr: float,
    rounded: dict[str, float] | None = None,
) -> dict[str, Any]:
    """The servable file (float16 weights with --half): weights, epoch, arguments and what the
    manifest records; the optimizer stays in the resumable ``.ckpt.pt``. ``rounded`` holds the
    metrics of the float16 weights, measured after the last epoch."""
    state = {
        key: value.half() if args.half and value.is_floating_point() else value
        for key, value in model.state_dict().items()
    }
    final = {**history[-1], **(rounded or {})}
    weights = "float16" if args.half and rounded is not None else "float32"
    info = {
        "arch": args.arch,
        "class_names": names,
        "input_size": args.input_size,
        "tiling": args.tiling,
        **({"anchors": model.anchor_config.as_dict()} if isinstance(model, TinySSD) else {}),
        **(rcnn_design(args, model) if args.arch == "fasterrcnn" else {}),
        "data": source,
        "command": command_line("detect", args, NOT_RECORDED, runtime.launcher()),
        "device": describe_device(next(model.parameters()).device),
        "world_size": runtime.world_size,
        "distributed": runtime.record(args, lr, DEFAULT_BATCH),
        "metrics": {
            **{key: value for key, value in final.items() if key not in {"epoch", "seconds"}},
            "measured_on": f"{weights} weights",
            **run_summary(history, "examples_per_second"),
        },
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "model": state,
            "epoch": final["epoch"],
            "args": plain_args(args),
            **info,
        },
        args.output,
    )
    return info

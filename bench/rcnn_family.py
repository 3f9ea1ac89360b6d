"""The R-CNN family on one validation set: R-CNN, Fast R-CNN, Faster R-CNN and Mask R-CNN.

R-CNN and Fast R-CNN are trained here on selective-search proposals (the ``train`` extra's
OpenCV); Faster and Mask R-CNN are the served files. Each row: box AP (and mask AP) on the
validation split of a synthetic set with masks, measured through the same serving-style
``detect_inputs`` at score 0.01 / NMS 0.5 / 100 boxes, images per second one at a time
(proposals included), and parameters.

    python -m bench.rcnn_family train-rcnn --data runs/synth-mask-std --output runs/family/rcnn.pt
    python -m bench.rcnn_family train-fast --data runs/synth-mask-std --output runs/family/fast.pt
    python -m bench.rcnn_family measure --data runs/synth-mask-std --rcnn runs/family/rcnn.pt \\
        --fast runs/family/fast.pt --faster weights/fasterrcnn-logo.pt \\
        --mask weights/maskrcnn-logo.pt
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from bench.server import ROOT, images_per_second, machine, write_result
from models.data.detection_csv import DetectionSample, read_detection_csv
from models.ops.anchors import encode_offsets
from models.train.detect_eval import served_map
from models.vision.detection.base import DetectionThresholds
from models.vision.detection.loading import load_detector
from models.vision.detection.rcnn import RCNNDetector, faster_rcnn
from models.vision.detection.region_proposals import (
    RCNN,
    ProposalRPN,
    WarpedRegionClassifier,
    region_targets,
    selective_search,
    to_unit,
)

SIZE = 320  # the R-CNNs' input: shorter side 320
SOURCE = ROOT / "weights" / "resnet18-cifar10.safetensors"


def training_samples(data: Path, count: int) -> list[DetectionSample]:
    return read_detection_csv(data, SIZE, "train", 0.1, keep_aspect=True)[:count]


def train_rcnn(args: argparse.Namespace) -> None:
    """R-CNN's network on warped proposals: per image up to 16 regions of IoU >= 0.5 with a seal
    (its box among them) and 48 under 0.3, cross-entropy plus smooth L1 on the positives'
    offsets."""
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    samples = training_samples(args.data, args.images)
    network = WarpedRegionClassifier(SOURCE, 1, args.side)
    optimizer = torch.optim.SGD(network.parameters(), lr=args.lr, momentum=0.9, weight_decay=1e-4)
    started = time.perf_counter()
    regions = [selective_search(to_unit(s.image), args.proposals) for s in samples]
    print(f"selective search on {len(samples)} images: {time.perf_counter() - started:.0f} s")
    for epoch in range(args.epochs):
        network.train()
        total, seen = 0.0, 0
        for index in rng.sample(range(len(samples)), len(samples)):
            sample = samples[index]
            height, width = sample.image.shape[-2:]
            truth = sample.boxes * torch.tensor([width, height, width, height])
            candidates = torch.cat([regions[index], truth])
            labels, matched = region_targets(candidates, truth)
            positives = torch.nonzero(labels == 1).flatten().tolist()
            negatives = torch.nonzero(labels == 0).flatten().tolist()
            chosen = rng.sample(positives, min(16, len(positives)))
            chosen += rng.sample(negatives, min(48, len(negatives)))
            if not chosen:
                continue
            picked = candidates[chosen]
            logits, offsets = network(network.warp(to_unit(sample.image), picked))
            loss = F.cross_entropy(logits, labels[chosen])
            positive = labels[chosen] == 1
            if positive.any():
                goal = encode_offsets(picked[positive], truth[matched[chosen]][positive])
                loss = loss + F.smooth_l1_loss(offsets[positive], goal)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total, seen = total + loss.item(), seen + 1
        print(f"epoch {epoch + 1}: loss {total / max(1, seen):.4f}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": network.state_dict(), "side": args.side, "class_names": ["logo"],
                "proposals": args.proposals, "images": len(samples), "epochs": args.epochs,
                "seconds": round(time.perf_counter() - started, 1)}, args.output)  # fmt: skip
    print(f"wrote {args.output}")


def fast_rcnn(init: Path | None) -> torch.nn.Module:
    """The Faster R-CNN design with RoI max pooling and selective-search proposals in place of
    the RPN, from ``init`` (a Faster R-CNN file) where given."""
    model = faster_rcnn(1, backbone="resnet18", roi_op="pool")
    if init is not None:
        state = torch.load(init, map_location="cpu", weights_only=True)["model"]
        model.load_state_dict({k: v.float() for k, v in state.items()})
    model.rpn = ProposalRPN(model.transform.image_mean, model.transform.image_std)
    return model


def train_fast(args: argparse.Namespace) -> None:
    """Fast R-CNN's box head (RoI pooling, two fully connected layers, classes and box
    offsets) trained on selective-search proposals over the backbone of ``--init``."""
    torch.manual_seed(args.seed)
    samples = training_samples(args.data, args.images)
    model = fast_rcnn(args.init)
    for key, parameter in model.named_parameters():
        parameter.requires_grad_(key.startswith("roi_heads."))
    trained = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(trained, lr=args.lr, momentum=0.9, weight_decay=1e-4)
    started = time.perf_counter()
    for epoch in range(args.epochs):
        model.train()
        model.backbone.eval()  # frozen: its batch norms keep their statistics
        total, seen = 0.0, 0
        for start in range(0, len(samples), args.batch_size):
            chosen = samples[start : start + args.batch_size]
            images, targets = [], []
            for sample in chosen:
                height, width = sample.image.shape[-2:]
                scale = torch.tensor([width, height, width, height])
                images.append(to_unit(sample.image))
                targets.append({"boxes": sample.boxes * scale, "labels": sample.labels + 1})
            losses = model(images, targets)
            loss = sum(losses.values())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total, seen = total + loss.item(), seen + 1
        print(f"epoch {epoch + 1}: loss {total / max(1, seen):.4f}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model.state_dict(), "class_names": ["logo"], "init": str(args.init),
                "images": len(samples), "epochs": args.epochs,
                "seconds": round(time.perf_counter() - started, 1)}, args.output)  # fmt: skip
    print(f"wrote {args.output}")


def load_rcnn(path: Path) -> RCNN:
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    network = WarpedRegionClassifier(SOURCE, 1, checkpoint["side"])
    network.load_state_dict(checkpoint["model"])
    return RCNN(network, checkpoint["class_names"], checkpoint["proposals"])


def load_fast(path: Path) -> RCNNDetector:
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    model = fast_rcnn(None)
    model.load_state_dict(checkpoint["model"], strict=False)  # ProposalRPN holds no weights
    return RCNNDetector(model, checkpoint["class_names"], torch.device("cpu"))


def parameters(detector: object) -> int:
    module = getattr(detector, "model", None) or getattr(detector, "network")  # noqa: B009
    return sum(p.numel() for p in module.parameters())


def measure(args: argparse.Namespace) -> dict:
    val_set = read_detection_csv(args.data, SIZE, "val", 0.1, with_masks=True)
    rows = []
    members = [
        ("R-CNN", "selective search; each region warped to 32 px and classified by its own "
         "ResNet-18 pass, box regression", args.rcnn, load_rcnn),
        ("Fast R-CNN", "selective search; one ResNet-18 FPN pass, RoI max pooling, box head",
         args.fast, load_fast),
        ("Faster R-CNN", "RPN proposals on the same pass, RoI align", args.faster,
         lambda p: load_detector(p, torch.device("cpu"))),
        ("Mask R-CNN", "Faster R-CNN plus a mask branch (RoI align 14 px, ConvTranspose2d)",
         args.mask, lambda p: load_detector(p, torch.device("cpu"))),
    ]  # fmt: skip
    for name, design, path, load in members:
        if path is None:
            continue
        detector = load(path)
        started = time.perf_counter()
        figures = served_map(detector, val_set, SIZE)
        evaluation_s = time.perf_counter() - started
        images = [s.image.float() / 255 for s in val_set[: args.timed]]
        limits = [DetectionThresholds(score_threshold=0.5)]

        def one_by_one(detector=detector, images=images, limits=limits) -> None:
            for image in images:
                detector.detect_inputs([image], [(SIZE, SIZE)], limits)

        rate = images_per_second(one_by_one, len(images), args.seconds)
        row = {
            "model": name,
            "design": design,
            "file": str(path),
            "box_map_50": round(figures["map_50"], 4),
            "box_map": round(figures["map"], 4),
            "mask_map_50": round(figures["mask_map_50"], 4) if "mask_map_50" in figures else None,
            "mask_map": round(figures["mask_map"], 4) if "mask_map" in figures else None,
            "images_per_second": round(rate, 2),
            "parameters": parameters(detector),
            "evaluation_seconds": round(evaluation_s, 1),
        }
        rows.append(row)
        print(row)
    result = {
        "benchmark": "rcnn-family",
        "validation": f"{args.data.name}: the val split (sha256(name) < 0.1), {len(val_set)} "
        f"images at {SIZE}x{SIZE}",
        "machine": machine(),
        "rows": rows,
    }
    write_result(result, args.output)
    return result


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for command, default_lr in (("train-rcnn", 0.01), ("train-fast", 0.005)):
        sub = commands.add_parser(command)
        sub.add_argument("--data", type=Path, required=True, help="a set with masks/")
        sub.add_argument("--images", type=int, default=400, help="training images used")
        sub.add_argument("--epochs", type=int, default=2)
        sub.add_argument("--lr", type=float, default=default_lr)
        sub.add_argument("--seed", type=int, default=0)
        sub.add_argument("--output", type=Path, required=True)
        if command == "train-rcnn":
            sub.add_argument("--side", type=int, default=32, help="warped region side")
            sub.add_argument("--proposals", type=int, default=200)
        else:
            sub.add_argument("--init", type=Path, default=ROOT / "weights" / "fasterrcnn-logo.pt")
            sub.add_argument("--batch-size", type=int, default=4)
    sub = commands.add_parser("measure")
    sub.add_argument("--data", type=Path, required=True)
    for member in ("rcnn", "fast", "faster", "mask"):
        sub.add_argument(f"--{member}", type=Path)
    sub.add_argument("--timed", type=int, default=8, help="validation images timed")
    sub.add_argument("--seconds", type=float, default=10.0)
    sub.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "rcnn-family.json")
    return parser


def main(args: argparse.Namespace) -> None:
    {"train-rcnn": train_rcnn, "train-fast": train_fast, "measure": measure}[args.command](args)


if __name__ == "__main__":
    main(get_args_parser().parse_args())

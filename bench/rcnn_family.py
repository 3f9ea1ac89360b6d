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
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from bench.server import ROOT, images_per_second, machine, write_result
from models.data.detection_csv import DetectionSample, read_detection_csv
from models.ops.anchors import encode_offsets
from models.train import distributed, engine
from models.train.config import AUTO, TrainConfig
from models.train.detect_eval import served_map
from models.train.engine import Step, TaskSteps
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


def cached_proposals(samples: list[DetectionSample], most: int, cache: Path) -> list[Tensor]:
    """Each sample's selective-search proposals, computed once into ``cache``."""
    names = [s.name for s in samples]
    if cache.is_file():
        stored = torch.load(cache, weights_only=True)
        if stored["names"] == names and stored["most"] == most:
            return stored["proposals"]
    started = time.perf_counter()
    proposals = [selective_search(to_unit(s.image), most) for s in samples]
    print(f"selective search on {len(samples)} images: {time.perf_counter() - started:.0f} s")
    cache.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"names": names, "most": most, "proposals": proposals}, cache)
    return proposals


class RCNNSteps(TaskSteps):
    """R-CNN's network on warped proposals, one image a step: up to 16 regions of IoU >= 0.5
    with a seal (its box among them) and 48 under 0.3, cross-entropy plus smooth L1 on the
    positives' offsets."""

    def __init__(
        self, network: WarpedRegionClassifier, samples: list[DetectionSample],
        proposals: list[Tensor], seed: int,
    ) -> None:  # fmt: skip
        self.trained, self.samples, self.proposals, self.seed = network, samples, proposals, seed

    def batches(self, epoch: int) -> Sequence[int]:
        return random.Random(f"{self.seed}:{epoch}").sample(
            range(len(self.samples)), len(self.samples)
        )

    def step(self, index: int, epoch: int) -> Step:
        rng = random.Random(f"{self.seed}:{epoch}:{index}")
        sample = self.samples[index]
        height, width = sample.image.shape[-2:]
        truth = sample.boxes * torch.tensor([width, height, width, height])
        candidates = torch.cat([self.proposals[index], truth])
        labels, matched = region_targets(candidates, truth)
        positives = torch.nonzero(labels == 1).flatten().tolist()
        negatives = torch.nonzero(labels == 0).flatten().tolist()
        chosen = rng.sample(positives, min(16, len(positives)))
        chosen += rng.sample(negatives, min(48, len(negatives)))
        picked = candidates[chosen]
        logits, offsets = self.trained(self.trained.warp(to_unit(sample.image), picked))
        loss = F.cross_entropy(logits, labels[chosen])
        positive = labels[chosen] == 1
        if positive.any():
            goal = encode_offsets(picked[positive], truth[matched[chosen]][positive])
            loss = loss + F.smooth_l1_loss(offsets[positive], goal)
        return Step(loss, 1)


class FastRCNNSteps(TaskSteps):
    """Fast R-CNN's box head on selective-search proposals (its frozen backbone's batch norms
    kept in evaluation mode): torchvision's classifier and box losses."""

    def __init__(self, model: torch.nn.Module, samples: list[DetectionSample], batch: int) -> None:
        self.trained, self.samples, self.batch = model, samples, batch

    def batches(self, epoch: int) -> Sequence[list[DetectionSample]]:
        return [self.samples[i : i + self.batch] for i in range(0, len(self.samples), self.batch)]

    def step(self, chosen: list[DetectionSample], epoch: int) -> Step:
        self.trained.backbone.eval()
        images, targets = [], []
        for sample in chosen:
            height, width = sample.image.shape[-2:]
            scale = torch.tensor([width, height, width, height])
            images.append(to_unit(sample.image))
            targets.append({"boxes": sample.boxes * scale, "labels": sample.labels + 1})
        return Step(sum(self.trained(images, targets).values()), len(chosen))


def fit_member(
    args: argparse.Namespace, model: torch.nn.Module, steps: TaskSteps, record: dict
) -> None:
    """Train through the project's one loop (:func:`models.train.engine.fit`: a checkpoint an
    epoch, ``--resume``) and save the weights with what the measurement needs."""
    config = TrainConfig(
        epochs=args.epochs, lr=args.lr, seed=args.seed, device="cpu", output=args.output,
        resume=AUTO, no_progress=True,
    )  # fmt: skip
    runtime = distributed.start("cpu")
    trained = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(trained, lr=args.lr, momentum=0.9, weight_decay=1e-4)
    started = time.perf_counter()
    history = engine.fit(steps, engine.start_run(config, runtime.device, model, optimizer),
                         config, runtime)  # fmt: skip
    runtime.close()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    seconds = round(time.perf_counter() - started, 1)
    torch.save({"model": model.state_dict(), "class_names": ["logo"], "history": history,
                "seconds": seconds, **record}, args.output)  # fmt: skip
    print(f"wrote {args.output}")


def train_rcnn(args: argparse.Namespace) -> None:
    torch.manual_seed(args.seed)
    samples = training_samples(args.data, args.images)
    proposals = cached_proposals(samples, args.proposals, args.output.with_suffix(".proposals.pt"))
    network = WarpedRegionClassifier(SOURCE, 1, args.side)
    record = {"side": args.side, "proposals": args.proposals, "images": len(samples)}
    fit_member(args, network, RCNNSteps(network, samples, proposals, args.seed), record)


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
    record = {"init": str(args.init), "images": len(samples)}
    fit_member(args, model, FastRCNNSteps(model, samples, args.batch_size), record)


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

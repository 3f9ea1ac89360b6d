"""Train a ResNet-18 classifier: from scratch, or fine-tuned the d2l way.

    # the source model, pre-trained here on CIFAR-10 (the role ImageNet plays in the book)
    python -m models.train classify --data cifar10 --pretrained none --stem cifar ...
    # fine-tuning on any ImageFolder set: new head, body at --lr, head at 10x
    python -m models.train classify --data ../shared/data/hymenoptera \\
        --pretrained weights/resnet18-cifar10.safetensors --lr 0.01 --head-lr-mult 10

``--data`` is a folder or .zip with ``train/<class>/`` and ``val/`` or ``test/``, or a known set:
``cifar10`` (the local zip under $D2L_DATA_DIR, else torchvision's download), ``hymenoptera`` or
``hotdog`` (unpacked under $D2L_DATA_DIR, else their archive, SHA-1 checked). ``--pretrained``
is ``none``, ``imagenet`` (torchvision's weights, from torch's hub cache or downloaded) or the
path of a checkpoint of this command (or a torchvision ResNet-18 state dict).

Each epoch prints the training loss and accuracy and the validation accuracy. ``--output`` gets
the servable weights (safetensors: class names, input size, normalisation, metrics, command);
``--checkpoint`` the training state (model, optimizer, schedule, epoch, arguments, history) to
``--resume`` from; a PNG of the curves lands next to ``--output``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torchvision.models import ResNet

from models.data.folders import (
    CIFAR10_ZIP,
    LabelledImages,
    download_cifar10,
    locate_cifar10,
    read_image_folder,
    resolve_image_folder,
)
from models.data.hub import sha1_of
from models.device import describe_device, resolve_device
from models.manifest import sha256_of
from models.train.engine import (
    SCHEDULES,
    batch_starts,
    command_line,
    list_in_manifest,
    make_schedule,
    plot_curves,
    resume,
    run_summary,
    save_checkpoint,
)
from models.vision.classifier import (
    STEMS,
    ClassifierCard,
    InputSpec,
    build_resnet18,
    imagenet_resnet18,
    load_classifier_file,
    param_groups,
    replace_head,
    save_classifier,
)
from models.vision.transforms import classification_augmentation, shorter_side_at_most

# Options that do not change the weights, left out of the recorded command.
NOT_RECORDED = frozenset({"no_progress", "resume", "checkpoint"})


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Train a ResNet-18 classifier from scratch or fine-tune one (d2l's recipe).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--data",
        default="cifar10",
        help="ImageFolder folder or .zip (train/ and val/ or test/), or a known set: cifar10, "
        "hymenoptera, hotdog ($D2L_DATA_DIR first, else downloaded)",
    )
    parser.add_argument(
        "--pretrained",
        default="none",
        help="none, imagenet (torchvision's weights) or the path of a source checkpoint",
    )
    parser.add_argument(
        "--stem",
        choices=STEMS,
        default=None,
        help="with --pretrained none: 'cifar' = 3x3 stride-1 first conv, no max-pool "
        "(default: imagenet, torchvision's); otherwise the source model's",
    )
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=5e-5, help="learning rate of the body")
    parser.add_argument(
        "--head-lr-mult",
        type=float,
        default=10.0,
        help="the output layer learns this many times faster (d2l: 10; 1 = one group)",
    )
    parser.add_argument("--weight-decay", type=float, default=1e-3)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument(
        "--schedule",
        choices=SCHEDULES,
        default="constant",
        help="learning-rate schedule over all steps (onecycle: --lr is the peak)",
    )
    parser.add_argument("--label-smoothing", type=float, default=0.0)
    parser.add_argument("--image-size", type=int, default=224, help="side of the square input")
    parser.add_argument(
        "--resize-size",
        type=int,
        default=None,
        help="evaluation resizes the shorter side to this, then centre-crops (default: "
        "image size / 0.875)",
    )
    parser.add_argument(
        "--train-crop",
        choices=("resized", "padded"),
        default="resized",
        help="resized: random resized crop + flip (d2l); padded: pad by 1/8 + random crop + "
        "flip (CIFAR's usual)",
    )
    parser.add_argument(
        "--min-scale", type=float, default=0.08, help="smallest crop area, resized crops"
    )
    parser.add_argument(
        "--random-erasing",
        type=float,
        default=0.0,
        help="probability of erasing a random rectangle of each training image to the mean "
        "colour (cutout; regularises long from-scratch runs)",
    )
    parser.add_argument("--freeze-body", action="store_true", help="train the new head only")
    parser.add_argument(
        "--amp", action="store_true", help="bfloat16 autocast (CPUs with AVX-512 BF16, GPUs)"
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=Path("runs") / "classifier.safetensors")
    parser.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        help="training state, written every epoch (default: --output with .ckpt.pt)",
    )
    parser.add_argument("--resume", action="store_true", help="continue from --checkpoint")
    parser.add_argument(
        "--half", action="store_true", help="store float16 weights (accuracy of both recorded)"
    )
    parser.add_argument("--manifest", type=Path, default=None, help="also list the model here")
    parser.add_argument("--name", default=None, help="model name in the manifest")
    parser.add_argument("--no-progress", action="store_true")
    return parser


def main(args: argparse.Namespace) -> dict[str, Any]:
    if args.epochs < 1:
        raise SystemExit("--epochs must be at least 1")
    if not 0.0 <= args.random_erasing <= 1.0:
        raise SystemExit(f"--random-erasing {args.random_erasing}: a probability, 0 to 1")
    torch.manual_seed(args.seed)
    device = resolve_device(args.device)
    model, stem, spec, source_info = build_model(args)
    train_set, eval_set, data_info = load_data(args, spec)
    if train_set.classes != eval_set.classes:
        raise SystemExit("training and evaluation splits name different classes")
    if source_info.get("classes") == train_set.classes:
        print("the source model has these classes: its output layer is kept")
    else:
        replace_head(model, len(train_set.classes))
    if args.freeze_body:
        for name, parameter in model.named_parameters():
            parameter.requires_grad = name.startswith("fc.")
    model = model.to(device=device, memory_format=torch.channels_last)

    optimizer = torch.optim.SGD(
        param_groups(model, args.lr, args.head_lr_mult),
        lr=args.lr,
        momentum=args.momentum,
        weight_decay=args.weight_decay,
    )
    steps_per_epoch = -(-len(train_set) // args.batch_size)
    schedule = make_schedule(args.schedule, optimizer, steps_per_epoch * args.epochs)
    augment = classification_augmentation(
        spec.input_size, spec.mean, args.train_crop, args.min_scale, args.random_erasing
    )
    history: list[dict[str, float]] = []
    checkpoint = args.checkpoint or args.output.with_suffix(".ckpt.pt")
    if args.resume and checkpoint.is_file():
        history = resume(checkpoint, device, model, optimizer, schedule)
    print(
        f"ResNet-18 ({stem} stem, source {source_info['pretrained']}): {len(train_set)} "
        f"training and {len(eval_set)} {eval_set.split} images, {len(train_set.classes)} "
        f"classes, input {spec.input_size}px, on {describe_device(device)}"
    )

    loss_fn = nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)
    for epoch in range(len(history), args.epochs):
        started = time.perf_counter()
        model.train()
        order = torch.randperm(len(train_set)).tolist()
        loss_sum = correct = 0.0
        batches = batch_starts(len(order), args.batch_size, epoch, args.epochs, args.no_progress)
        for start in batches:
            chosen = order[start : start + args.batch_size]
            images = torch.stack([augment(train_set.images[i]) for i in chosen]).to(device)
            labels = train_set.labels[chosen].to(device)
            inputs = spec.normalize(images).contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.amp):
                logits = model(inputs)
                loss = loss_fn(logits.float(), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            loss_sum += loss.item() * len(chosen)
            correct += (logits.argmax(dim=1) == labels).sum().item()
            batches.set_postfix(loss=f"{loss.item():.4f}")
        seconds = time.perf_counter() - started
        row = {
            "epoch": epoch + 1,
            "train_loss": loss_sum / len(train_set),
            "train_accuracy": correct / len(train_set),
            f"{eval_set.split}_accuracy": accuracy(model, eval_set, spec, device),
            "seconds": round(seconds, 2),
            "images_per_second": round(len(train_set) / seconds, 1),
        }
        history.append(row)
        print(
            f"epoch {epoch + 1}: train loss {row['train_loss']:.4f}, train accuracy "
            f"{row['train_accuracy']:.4f}, {eval_set.split} accuracy "
            f"{row[f'{eval_set.split}_accuracy']:.4f} ({seconds:.0f} s)"
        )
        save_checkpoint(checkpoint, model, optimizer, args, history, schedule)

    info = finish(args, model, stem, spec, train_set.classes, eval_set, history, device)
    info["data"] = data_info
    info["source"] = source_info
    card = ClassifierCard(train_set.classes, stem, spec, info)
    save_classifier(args.output, model, card, half=args.half)
    split = eval_set.split
    curves = [
        [("train_loss", "training loss")],
        [("train_accuracy", "train accuracy"), (f"{split}_accuracy", f"{split} accuracy")],
    ]
    plot_curves(history, curves, args.output.with_suffix(".png"))
    list_in_manifest(
        args.manifest,
        args.name or args.output.stem,
        "classify",
        args.output,
        architecture="resnet18",
        classes=train_set.classes,
        input_size=spec.input_size,
        **info,
    )
    print(f"wrote {args.output} and {args.output.with_suffix('.png')}")
    return info


def build_model(args: argparse.Namespace) -> tuple[ResNet, str, InputSpec, dict[str, Any]]:
    """The source network, its stem, the input spec and where it came from (with the source's
    classes when known: training on the same classes keeps its output layer)."""
    size = dict(input_size=args.image_size, resize_size=args.resize_size)
    if args.pretrained == "none":
        stem = args.stem or "imagenet"
        return build_resnet18(1000, stem), stem, InputSpec.for_size(**size), {"pretrained": "none"}
    if args.pretrained == "imagenet":
        source = {"pretrained": "imagenet", "weights": "torchvision ResNet18_Weights.IMAGENET1K_V1"}
        return (
            imagenet_resnet18(not args.no_progress),
            "imagenet",
            InputSpec.for_size(**size),
            source,
        )
    path = Path(args.pretrained)
    if not path.is_file():
        raise SystemExit(f"--pretrained {path}: no such file (or use none or imagenet)")
    source = {"pretrained": path.name, "sha256": sha256_of(path)}
    if path.suffix == ".safetensors":
        model, card = load_classifier_file(path)
        source |= {"classes": card.classes, "command": card.info.get("command")}
        # The source's normalisation: its features were learned on inputs scaled that way.
        spec = InputSpec.for_size(**size, mean=card.spec.mean, std=card.spec.std)
        return model, card.stem, spec, source
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = state.get("model", state)
    stem = "cifar" if state["conv1.weight"].shape[-1] == 3 else "imagenet"
    model = build_resnet18(state["fc.weight"].shape[0], stem)
    model.load_state_dict(state)
    return model, stem, InputSpec.for_size(**size), source


def load_data(
    args: argparse.Namespace, spec: InputSpec
) -> tuple[LabelledImages, LabelledImages, dict[str, Any]]:
    """Both splits in memory: training images at a size the augmentation needs, evaluation
    images already through the evaluation transform (decoded exactly as serving decodes)."""
    # Random resized crops need some pixels to spare; padded crops start from the eval view.
    keep = (
        spec.eval_transform
        if args.train_crop == "padded"
        else shorter_side_at_most(2 * spec.resize_size)
    )

    if args.data == "cifar10":
        local = locate_cifar10()
        if local is None:
            train = download_cifar10("train", keep)
            test = download_cifar10("test", spec.eval_transform)
            return train, test, {"name": "CIFAR-10", "source": "torchvision CIFAR10"}
        data = Path(local)
        info = {"name": "CIFAR-10", "file": CIFAR10_ZIP.file, "sha1": CIFAR10_ZIP.sha1}
    else:
        data = resolve_image_folder(args.data)
        info = {"name": data.stem if data.is_file() else data.name}
        if data.is_file():
            info["sha1"] = sha1_of(data)
    train = read_image_folder(data, "train", keep, min_side=2 * spec.resize_size)
    evaluation = read_image_folder(
        data, "eval", spec.eval_transform, min_side=spec.resize_size, classes=train.classes
    )
    info |= {"train_images": len(train), f"{evaluation.split}_images": len(evaluation)}
    return train, evaluation, info


@torch.no_grad()
def logits_of(
    model: nn.Module, images: LabelledImages, spec: InputSpec, device: torch.device
) -> Tensor:
    model.eval()
    outputs = []
    for start in range(0, len(images), 256):
        batch = torch.stack(images.images[start : start + 256]).to(device)
        inputs = spec.normalize(batch).contiguous(memory_format=torch.channels_last)
        outputs.append(model(inputs).float().cpu())
    return torch.cat(outputs)


def accuracy(
    model: nn.Module, images: LabelledImages, spec: InputSpec, device: torch.device
) -> float:
    """Top-1 accuracy on images already through the evaluation transform."""
    return (
        (logits_of(model, images, spec, device).argmax(dim=1) == images.labels)
        .float()
        .mean()
        .item()
    )


def finish(
    args: argparse.Namespace,
    model: nn.Module,
    stem: str,
    spec: InputSpec,
    classes: list[str],
    eval_set: LabelledImages,
    history: list[dict[str, float]],
    device: torch.device,
) -> dict[str, Any]:
    """The card's record: metrics (and, with --half, the accuracy of the float16 weights that
    are stored), the command, the device, the time."""
    key = f"{eval_set.split}_accuracy"
    metrics: dict[str, Any] = {key: history[-1][key]}
    if args.half:
        rounded = build_resnet18(len(classes), stem)
        rounded.load_state_dict(
            {
                k: v.half().float() if v.is_floating_point() else v
                for k, v in model.state_dict().items()
            }
        )
        metrics[f"{key}_float32"] = metrics[key]
        metrics[key] = accuracy(
            rounded.to(device, memory_format=torch.channels_last), eval_set, spec, device
        )
    metrics |= {
        "train_accuracy": history[-1]["train_accuracy"],
        "train_loss": history[-1]["train_loss"],
        **run_summary(history, "images_per_second"),
    }
    return {
        "stem": stem,
        "input": {
            "input_size": spec.input_size,
            "resize_size": spec.resize_size,
            "mean": list(spec.mean),
            "std": list(spec.std),
        },
        "dtype": "float16" if args.half else "float32",
        "command": command_line("classify", args, NOT_RECORDED),
        "device": describe_device(device),
        "metrics": metrics,
    }

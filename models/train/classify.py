"""Train a ResNet-18 classifier: from scratch, or fine-tuned the d2l way.

    # the source model, pre-trained here on CIFAR-10 (the role ImageNet plays in the book)
    python -m models.train classify --data cifar10 --pretrained none --stem cifar ...
    # fine-tuning on any ImageFolder set: new head, body at --lr, head at 10x
    python -m models.train classify --data ../shared/data/hymenoptera \\
        --pretrained weights/resnet18-cifar10.safetensors --lr 0.01 --head-lr-mult 10
    # several processes (GPUs, nodes; Gloo on CPUs): the same command under torchrun
    torchrun --standalone --nproc_per_node=8 -m models.train classify --data cifar10 ...

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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from models.data.folders import LabelledImages
from models.device import describe_device
from models.train import distributed
from models.train.classify_data import build_model, load_data
from models.train.distributed import Runtime, example_rng
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
    param_groups,
    replace_head,
    save_classifier,
)
from models.vision.transforms import classification_augmentation

# Options that do not change the weights, left out of the recorded command.
NOT_RECORDED = frozenset({"no_progress", "resume", "checkpoint"})
DEFAULT_BATCH = 128


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
    parser.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULT_BATCH,
        help="images per step over all processes (under torchrun each takes its share)",
    )
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
    distributed.add_arguments(parser, batchnorm=True)
    return parser


def main(args: argparse.Namespace) -> dict[str, Any]:
    if args.epochs < 1:
        raise SystemExit("--epochs must be at least 1")
    if not 0.0 <= args.random_erasing <= 1.0:
        raise SystemExit(f"--random-erasing {args.random_erasing}: a probability, 0 to 1")
    runtime = distributed.start(args.device)
    info = train(args, runtime)
    runtime.close()
    return info


def train(args: argparse.Namespace, runtime: Runtime) -> dict[str, Any]:
    """The run on this process (one of ``runtime.world_size``); rank 0 writes the files."""
    torch.manual_seed(args.seed)
    device = runtime.device
    local_batch = runtime.local_batch(args.batch_size)
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
    model = distributed.prepare(model, runtime, args.sync_bn)
    model = model.to(device=device, memory_format=torch.channels_last)

    lr = distributed.scaled_lr(args, DEFAULT_BATCH)
    optimizer = torch.optim.SGD(
        param_groups(model, lr, args.head_lr_mult),
        lr=lr,
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
    trained = runtime.wrap(model)
    print(
        f"ResNet-18 ({stem} stem, source {source_info['pretrained']}): {len(train_set)} "
        f"training and {len(eval_set)} {eval_set.split} images, {len(train_set.classes)} "
        f"classes, input {spec.input_size}px, on {runtime.describe()}, "
        f"{describe_device(device)}; batch {args.batch_size} = {runtime.world_size} x "
        f"{local_batch}, lr {lr:g} (scaling {args.lr_scaling})"
    )

    loss_fn = nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)
    quiet = args.no_progress or not runtime.is_main
    for epoch in range(len(history), args.epochs):
        started = time.perf_counter()
        trained.train()
        order = runtime.shard(len(train_set), args.seed, epoch)
        loss_sum = correct = 0.0
        batches = batch_starts(len(order), local_batch, epoch, args.epochs, quiet)
        for start in batches:
            chosen = order[start : start + local_batch]
            images = torch.stack(
                [augmented(augment, train_set.images[i], args.seed, epoch, i) for i in chosen]
            ).to(device)
            labels = train_set.labels[chosen].to(device)
            inputs = spec.normalize(images).contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.amp):
                logits = trained(inputs)
                loss = loss_fn(logits.float(), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            loss_sum += loss.item() * len(chosen)
            correct += (logits.argmax(dim=1) == labels).sum().item()
            batches.set_postfix(loss=f"{loss.item():.4f}")
        loss_sum, correct, seen = runtime.sum([loss_sum, correct, len(order)])
        seconds = time.perf_counter() - started
        row = {
            "epoch": epoch + 1,
            "train_loss": loss_sum / seen,
            "train_accuracy": correct / seen,
            f"{eval_set.split}_accuracy": accuracy(model, eval_set, spec, device, runtime),
            "seconds": round(seconds, 2),
            "images_per_second": round(len(train_set) / seconds, 1),
        }
        history.append(row)
        print(
            f"epoch {epoch + 1}: train loss {row['train_loss']:.4f}, train accuracy "
            f"{row['train_accuracy']:.4f}, {eval_set.split} accuracy "
            f"{row[f'{eval_set.split}_accuracy']:.4f} ({seconds:.0f} s)"
        )
        if runtime.is_main:
            save_checkpoint(checkpoint, model, optimizer, args, history, schedule)

    info = finish(args, model, stem, spec, train_set.classes, eval_set, history, runtime)
    info["data"] = data_info
    info["source"] = source_info
    info["distributed"] = runtime.record(args, lr, DEFAULT_BATCH)
    if runtime.is_main:
        card = ClassifierCard(train_set.classes, stem, spec, info)
        write_outputs(args, model, card, history, eval_set.split)
    return info


def write_outputs(
    args: argparse.Namespace,
    model: nn.Module,
    card: ClassifierCard,
    history: list[dict[str, float]],
    split: str,
) -> None:
    """The servable file, the curves beside it and the manifest entry."""
    save_classifier(args.output, model, card, half=args.half)
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
        classes=card.classes,
        input_size=card.spec.input_size,
        **card.info,
    )
    print(f"wrote {args.output} and {args.output.with_suffix('.png')}")


def augmented(
    augment: Callable[[Tensor], Tensor], image: Tensor, seed: int, epoch: int, index: int
) -> Tensor:
    """Example ``index``'s augmentation in ``epoch``: the same on whichever process draws it."""
    with example_rng(seed, epoch, index):
        return augment(image)


@torch.no_grad()
def logits_of(
    model: nn.Module, images: Sequence[Tensor], spec: InputSpec, device: torch.device
) -> Tensor:
    model.eval()
    outputs = []
    for start in range(0, len(images), 256):
        batch = torch.stack(list(images[start : start + 256])).to(device)
        inputs = spec.normalize(batch).contiguous(memory_format=torch.channels_last)
        outputs.append(model(inputs).float().cpu())
    return torch.cat(outputs) if outputs else torch.zeros(0, 0)


def accuracy(
    model: nn.Module,
    images: LabelledImages,
    spec: InputSpec,
    device: torch.device,
    runtime: Runtime,
) -> float:
    """Top-1 accuracy on images already through the evaluation transform; under torchrun each
    process scores its share and the counts are summed."""
    share = images.images[runtime.rank :: runtime.world_size]
    labels = images.labels[runtime.rank :: runtime.world_size]
    right = 0
    if share:
        right = (logits_of(model, share, spec, device).argmax(dim=1) == labels).sum().item()
    right, total = runtime.sum([right, len(share)])
    return right / total


def finish(
    args: argparse.Namespace,
    model: nn.Module,
    stem: str,
    spec: InputSpec,
    classes: list[str],
    eval_set: LabelledImages,
    history: list[dict[str, float]],
    runtime: Runtime,
) -> dict[str, Any]:
    """The card's record: metrics (and, with --half, the accuracy of the float16 weights that
    are stored), the command, the device, the time, how many processes shared the run."""
    device = runtime.device
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
            rounded.to(device, memory_format=torch.channels_last), eval_set, spec, device, runtime
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
        "command": command_line("classify", args, NOT_RECORDED, runtime.launcher()),
        "device": describe_device(device),
        "world_size": runtime.world_size,
        "metrics": metrics,
    }

"""Train a ResNet-18 classifier: from scratch, or fine-tuned the d2l way.

    # the source model, pre-trained here on CIFAR-10 (the role ImageNet plays in the book)
    python -m models.train classify --data cifar10 --pretrained none --stem cifar ...
    # fine-tuning on any ImageFolder set: new head, body at --lr, head at 10x
    python -m models.train classify --data ../shared/data/hymenoptera \\
        --pretrained weights/resnet18-cifar10.safetensors --lr 0.01 --head-lr-mult 10
    # several processes (GPUs, nodes; Gloo on CPUs): the same command under torchrun
    torchrun --standalone --nproc_per_node=8 -m models.train classify --data cifar10 ...

``train(ClassifyConfig(...))`` runs the same from Python.

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

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from models.data.folders import LabelledImages
from models.device import describe_device
from models.train import distributed, engine
from models.train.classify_data import build_model, load_data
from models.train.config import ClassifyConfig, TrainingError
from models.train.distributed import Runtime, example_rng
from models.train.engine import ProgressCallback, Step, TaskSteps, TrainResult
from models.train.records import command_line, list_in_manifest, plot_curves, run_summary
from models.vision.classifier import (
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


def train(config: ClassifyConfig, progress: ProgressCallback | None = None) -> TrainResult:
    """Train as ``config`` says, on this process or as one of torchrun's; raises
    :class:`TrainingError` when the run cannot start."""
    return engine.launch(run, config, progress)


class ClassifySteps(TaskSteps):
    """Cross-entropy on augmented batches; top-1 accuracy on the evaluation split."""

    rate = "images_per_second"
    schedule_unit = "batch"

    def __init__(
        self,
        config: ClassifyConfig,
        trained: nn.Module,
        model: nn.Module,
        train_set: LabelledImages,
        eval_set: LabelledImages,
        spec: InputSpec,
        runtime: Runtime,
    ) -> None:
        self.config, self.trained, self.model, self.runtime = config, trained, model, runtime
        self.train_set, self.eval_set, self.spec = train_set, eval_set, spec
        self.metric = f"{eval_set.split}_accuracy"
        self.augment = classification_augmentation(
            spec.input_size, spec.mean, config.train_crop, config.min_scale, config.random_erasing
        )
        self.loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
        self.local_batch = runtime.local_batch(config.batch_size)

    def batches(self, epoch: int) -> Sequence[list[int]]:
        order = self.runtime.shard(len(self.train_set), self.config.seed, epoch)
        return [order[i : i + self.local_batch] for i in range(0, len(order), self.local_batch)]

    def step(self, batch: list[int], epoch: int) -> Step:
        device, seed = self.runtime.device, self.config.seed
        images = torch.stack(
            [augmented(self.augment, self.train_set.images[i], seed, epoch, i) for i in batch]
        ).to(device)
        labels = self.train_set.labels[batch].to(device)
        inputs = self.spec.normalize(images).contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=self.config.amp):
            logits = self.trained(inputs)
            loss = self.loss_fn(logits.float(), labels)
        correct = (logits.argmax(dim=1) == labels).sum().item()
        return Step(loss, len(batch), {"correct": correct})

    def epoch_figures(self, sums: dict[str, float], seen: float) -> dict[str, float]:
        return {"train_loss": sums["loss"] / seen, "train_accuracy": sums["correct"] / seen}

    def examples(self, seen: float) -> float:
        return len(self.train_set)

    def evaluate(self, epoch: int) -> dict[str, float]:
        device = self.runtime.device
        return {self.metric: accuracy(self.model, self.eval_set, self.spec, device, self.runtime)}


def run(
    config: ClassifyConfig, runtime: Runtime, progress: ProgressCallback | None = None
) -> TrainResult:
    """The run on this process (one of ``runtime.world_size``); rank 0 writes the files."""
    torch.manual_seed(config.seed)
    device = runtime.device
    model, stem, spec, source_info = build_model(config)
    train_set, eval_set, data_info = load_data(config, spec)
    if train_set.classes != eval_set.classes:
        raise TrainingError("training and evaluation splits name different classes")
    if source_info.get("classes") == train_set.classes:
        print("the source model has these classes: its output layer is kept")
    else:
        replace_head(model, len(train_set.classes))
    if config.freeze_body:
        for name, parameter in model.named_parameters():
            parameter.requires_grad = name.startswith("fc.")
    model = distributed.prepare(model, runtime, config.sync_bn)
    model = model.to(device=device, memory_format=torch.channels_last)

    lr = distributed.scaled_lr(config)
    optimizer = torch.optim.SGD(
        param_groups(model, lr, config.head_lr_mult),
        lr=lr,
        momentum=config.momentum,
        weight_decay=config.weight_decay,
    )
    steps_per_epoch = -(-len(train_set) // config.batch_size)
    schedule = engine.make_schedule(config.schedule, optimizer, steps_per_epoch * config.epochs)
    state = engine.start_run(config, device, model, optimizer, schedule)
    steps = ClassifySteps(config, runtime.wrap(model), model, train_set, eval_set, spec, runtime)
    print(
        f"ResNet-18 ({stem} stem, source {source_info['pretrained']}): {len(train_set)} "
        f"training and {len(eval_set)} {eval_set.split} images, {len(train_set.classes)} "
        f"classes, input {spec.input_size}px, {runtime.describe_share(config, lr)}"
    )
    history = engine.fit(steps, state, config, runtime, progress)

    info = finish(config, model, stem, spec, train_set.classes, eval_set, history, runtime)
    info["data"] = data_info
    info["source"] = source_info
    info["distributed"] = runtime.record(config, lr)
    curves = config.output.with_suffix(".png")
    card_fields = {"architecture": "resnet18", "classes": train_set.classes}
    card_fields |= {"input_size": spec.input_size, **info}
    if runtime.is_main:
        card = ClassifierCard(train_set.classes, stem, spec, info)
        write_outputs(config, model, card, history, eval_set.split, card_fields)
    return TrainResult(config.output, info["metrics"], history, curves, card_fields)


def write_outputs(
    config: ClassifyConfig,
    model: nn.Module,
    card: ClassifierCard,
    history: list[dict[str, float]],
    split: str,
    card_fields: dict[str, Any],
) -> None:
    """The servable file, the curves beside it and the manifest entry."""
    save_classifier(config.output, model, card, half=config.half)
    curves = [
        [("train_loss", "training loss")],
        [("train_accuracy", "train accuracy"), (f"{split}_accuracy", f"{split} accuracy")],
    ]
    plot_curves(history, curves, config.output.with_suffix(".png"))
    name = config.name or config.output.stem
    list_in_manifest(config.manifest, name, "classify", config.output, **card_fields)
    print(f"wrote {config.output} and {config.output.with_suffix('.png')}")


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
    config: ClassifyConfig,
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
    if config.half:
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
        "dtype": "float16" if config.half else "float32",
        "command": command_line("classify", config, NOT_RECORDED, runtime.launcher()),
        "device": describe_device(device),
        "world_size": runtime.world_size,
        "metrics": metrics,
    }

"""Train TinySSD or a Faster R-CNN on a detection set in d2l's CSV layout.

    python -m models.train detect --data ../shared/data/sysu-logo --class-names logo \\
        --epochs 20 --output weights/tinyssd-logo.pt
    # several processes: torchrun --standalone --nproc_per_node=N -m models.train detect ...

Each epoch reports the book's figures on the training batches (class error, bbox MAE) and, on
the validation split, the same two plus mAP@0.5 and mAP@[.5:.95] from torchmetrics'
MeanAveragePrecision (pycocotools). The servable file holds the weights, the epoch, the
arguments, the class names, the model's design (anchors or Faster R-CNN body) and the metrics;
``.ckpt.pt`` beside it adds the optimizer and schedule for ``--resume``; a PNG of the training
curves is written next to them. ``train(DetectConfig(...))`` runs the same from Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from models.data.detection_csv import DetectionSample
from models.device import describe_device
from models.train import distributed, engine
from models.train.config import RCNN_ARCHS, DetectConfig, TrainingError
from models.train.detect_data import collate, load_detection_data, rcnn_batch
from models.train.detect_eval import evaluate
from models.train.detect_model import (
    FROZEN,
    base_detector,
    build_detector,
    freeze,
    rcnn_design,
)
from models.train.distributed import Runtime, example_rng
from models.train.engine import ProgressCallback, Step, TaskSteps, TrainResult
from models.train.photo_eval import evaluate_photos
from models.train.records import command_line, list_in_manifest, plot_curves, run_summary
from models.vision.detection.ssd import TinySSD, ssd_loss
from models.vision.transforms import DetectionAugmentation

NOT_RECORDED = frozenset({"no_progress", "resume", "checkpoint", "photo_labels"})
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


def train(config: DetectConfig, progress: ProgressCallback | None = None) -> TrainResult:
    """Train as ``config`` says, on this process or as one of torchrun's; raises
    :class:`TrainingError` when the run cannot start."""
    return engine.launch(run, config, progress)


class DetectSteps(TaskSteps):
    """The detector's training loss on augmented batches (TinySSD: the book's loss and
    figures; Faster R-CNN: torchvision's sum of losses); validation mAP and photo recall on
    rank 0, shared with the others; the servable file rewritten every epoch."""

    rate = "examples_per_second"
    metric = "map_50"
    schedule_unit = "epoch"

    def __init__(
        self,
        config: DetectConfig,
        trained: torch.nn.Module,
        model: torch.nn.Module,
        data: tuple[list[DetectionSample], list[DetectionSample]],
        names: list[str],
        runtime: Runtime,
        save: Any,
    ) -> None:
        self.config, self.trained, self.model, self.runtime = config, trained, model, runtime
        self.train_set, self.val_set = data
        self.names, self.save = names, save
        self.local_batch = runtime.local_batch(config.batch_size)
        self.augment = (
            None
            if config.no_augment
            else DetectionAugmentation(config.input_size, keep_aspect=config.input_shape == "photo")
        )

    def batches(self, epoch: int) -> Sequence[list[int]]:
        order = self.runtime.shard(len(self.train_set), self.config.seed, epoch)
        return [order[i : i + self.local_batch] for i in range(0, len(order), self.local_batch)]

    def step(self, batch: list[int], epoch: int) -> Step:
        seed = self.config.seed
        chosen = [augmented(self.augment, self.train_set[i], seed, epoch, i) for i in batch]
        loss, figures = training_loss(
            self.config, self.trained, self.model, chosen, self.runtime.device
        )
        return Step(loss, len(chosen), {key: value * len(chosen) for key, value in figures.items()})

    def examples(self, seen: float) -> float:
        return len(self.train_set)

    def evaluate(self, epoch: int) -> dict[str, float]:
        found = validation(self.config, self.model, self.val_set, self.names, self.runtime)
        return self.runtime.share(found)

    def end_epoch(self, history: list[dict[str, Any]]) -> None:
        self.save(history)


def run(
    config: DetectConfig, runtime: Runtime, progress: ProgressCallback | None = None
) -> TrainResult:
    """The run on this process (one of ``runtime.world_size``): all of them train, rank 0
    evaluates (mAP and photo recall go through the serving path on whole sets) and writes."""
    torch.manual_seed(config.seed)
    device = runtime.device
    train_set, val_set, source = load_detection_data(config)
    num_classes = max(int(s.labels.max()) for s in train_set + val_set if len(s.labels)) + 1
    names = (
        config.class_names.split(",")
        if config.class_names
        else [f"class_{i}" for i in range(num_classes)]
    )
    if len(names) != num_classes:
        raise TrainingError(f"--class-names gives {len(names)} names for {num_classes} label ids")
    model = build_detector(config, num_classes)
    if config.freeze != "none":
        freeze(model, config.freeze)
    model = distributed.prepare(model, runtime, config.sync_bn).to(device)
    lr = distributed.scaled_lr(config)
    optimizer = torch.optim.SGD(
        [parameter for parameter in model.parameters() if parameter.requires_grad],
        lr=lr,
        momentum=config.momentum,
        weight_decay=config.weight_decay,
    )
    schedule = engine.make_schedule(config.schedule, optimizer, config.epochs)
    state = engine.start_run(config, device, model, optimizer, schedule)

    def save(history: list[dict[str, Any]], rounded: dict[str, float] | None = None) -> dict:
        return save_detector(config, model, names, history, source, runtime, lr, rounded)

    steps = DetectSteps(
        config, runtime.wrap(model), model, (train_set, val_set), names, runtime, save
    )
    print(
        f"{config.arch}: {len(train_set)} training and {len(val_set)} validation images, "
        f"{num_classes} class(es), {runtime.describe_share(config, lr)}"
    )
    history = engine.fit(steps, state, config, runtime, progress)
    info = None
    curves = config.output.with_suffix(".png")
    if runtime.is_main:
        rounded = None
        if config.half:  # record what the float16 file does, not what the float32 model did
            with torch.no_grad():
                for tensor in model.state_dict().values():
                    if tensor.is_floating_point():
                        tensor.copy_(tensor.half())
            rounded = validation(config, model, val_set, names, runtime)
        info = save(history, rounded)
        plot_curves(history, CURVES, curves, log_scale=[1])
        card = {k: v for k, v in info.items() if k not in {"arch", "class_names"}}
        card |= {"architecture": config.arch, "classes": names}
        name = config.name or config.output.stem
        list_in_manifest(config.manifest, name, "detect", config.output, **card)
        info = {"info": info, "card": card}
        print(f"wrote {config.output} and {curves}")
    shared = runtime.share(info)
    metrics = shared["info"]["metrics"]
    return TrainResult(config.output, metrics, history, curves, shared["card"])


def validation(
    config: DetectConfig,
    model: torch.nn.Module,
    val_set: list[DetectionSample],
    names: list[str],
    runtime: Runtime,
) -> dict[str, float] | None:
    """On rank 0 (``None`` elsewhere): the validation figures and those on real photos."""
    if not runtime.is_main:
        return None
    device = runtime.device
    return evaluate(model, val_set, config.input_size, device) | evaluate_photos(
        config, model, names, device
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
        return augment.sample(sample)


def training_loss(
    config: DetectConfig,
    trained: torch.nn.Module,
    model: torch.nn.Module,
    samples: list[DetectionSample],
    device: torch.device,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The loss of a batch of (augmented) samples through ``trained`` (``model``, or it under
    DDP), and the book's figures for TinySSD."""
    if config.arch in RCNN_ARCHS:
        if config.freeze == "detector":  # frozen batch norms keep their figures
            model.backbone.eval()
        elif config.freeze == "body":
            model.backbone.body.eval()
        images, targets = rcnn_batch(samples, None)
        losses = trained(
            [image.to(device) for image in images],
            [{key: value.to(device) for key, value in t.items()} for t in targets],
        )
        return sum(losses.values()), {}
    images, labels = collate(samples, None, config.input_size)
    cls_logits, offsets = trained(images.to(device))
    result = ssd_loss(cls_logits, offsets, model.anchors, labels.to(device), config.hard_negatives)
    return result.loss, {"class_error": result.class_error, "bbox_mae": result.bbox_mae}


def save_detector(
    config: DetectConfig,
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
        key: value.half() if config.half and value.is_floating_point() else value
        for key, value in model.state_dict().items()
    }
    base = {}
    if config.freeze != "none":  # what it trained, and the file of what it did not
        kept = FROZEN[config.freeze]
        state = {key: value for key, value in state.items() if not kept(key)}
        base = {"base_detector": base_detector(config.init, config.output, config.freeze)}
    final = {**history[-1], **(rounded or {})}
    weights = "float16" if config.half and rounded is not None else "float32"
    info = {
        "arch": config.arch,
        "class_names": names,
        "input_size": config.input_size,
        "tiling": config.tiling,
        **({"anchors": model.anchor_config.as_dict()} if isinstance(model, TinySSD) else {}),
        **(rcnn_design(config, model) if config.arch in RCNN_ARCHS else {}),
        "data": source,
        "command": command_line("detect", config, NOT_RECORDED, runtime.launcher()),
        "device": describe_device(next(model.parameters()).device),
        "world_size": runtime.world_size,
        "distributed": runtime.record(config, lr),
        "metrics": {
            **{key: value for key, value in final.items() if key not in {"epoch", "seconds"}},
            "measured_on": f"{weights} weights",
            **run_summary(history, "examples_per_second"),
        },
    }
    config.output.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "model": state,
            "epoch": final["epoch"],
            "args": engine.plain_args(config),
            **base,
            **info,
        },
        config.output,
    )
    return info

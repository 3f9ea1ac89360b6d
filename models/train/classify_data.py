"""What the classification command trains on: the source network (none, torchvision's ImageNet
weights or a checkpoint) and both splits of the data in memory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
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
from models.manifest import sha256_of
from models.train.config import ClassifyConfig, TrainingError
from models.vision.classifier import (
    InputSpec,
    build_resnet18,
    imagenet_resnet18,
    load_classifier_file,
)
from models.vision.transforms import shorter_side_at_most


def build_model(config: ClassifyConfig) -> tuple[ResNet, str, InputSpec, dict[str, Any]]:
    """The source network, its stem, the input spec and where it came from (with the source's
    classes when known: training on the same classes keeps its output layer)."""
    size = dict(input_size=config.input_size, resize_size=config.resize_size)
    if config.pretrained == "none":
        stem = config.stem or "imagenet"
        return build_resnet18(1000, stem), stem, InputSpec.for_size(**size), {"pretrained": "none"}
    if config.pretrained == "imagenet":
        source = {"pretrained": "imagenet", "weights": "torchvision ResNet18_Weights.IMAGENET1K_V1"}
        return (
            imagenet_resnet18(not config.no_progress),
            "imagenet",
            InputSpec.for_size(**size),
            source,
        )
    path = Path(config.pretrained)
    if not path.is_file():
        raise TrainingError(f"--pretrained {path}: no such file (or use none or imagenet)")
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
    config: ClassifyConfig, spec: InputSpec
) -> tuple[LabelledImages, LabelledImages, dict[str, Any]]:
    """Both splits in memory: training images at a size the augmentation needs, evaluation
    images already through the evaluation transform (decoded exactly as serving decodes)."""
    # Random resized crops need some pixels to spare; padded crops start from the eval view.
    keep = (
        spec.eval_transform
        if config.train_crop == "padded"
        else shorter_side_at_most(2 * spec.resize_size)
    )

    if config.data == "cifar10":
        local = locate_cifar10()
        if local is None:
            train = download_cifar10("train", keep)
            test = download_cifar10("test", spec.eval_transform)
            return train, test, {"name": "CIFAR-10", "source": "torchvision CIFAR10"}
        data = Path(local)
        info = {"name": "CIFAR-10", "file": CIFAR10_ZIP.file, "sha1": CIFAR10_ZIP.sha1}
    else:
        data = resolve_image_folder(config.data)
        info = {"name": data.stem if data.is_file() else data.name}
        if data.is_file():
            info["sha1"] = sha1_of(data)
    train = read_image_folder(data, "train", keep, min_side=2 * spec.resize_size)
    evaluation = read_image_folder(
        data, "eval", spec.eval_transform, min_side=spec.resize_size, classes=train.classes
    )
    info |= {"train_images": len(train), f"{evaluation.split}_images": len(evaluation)}
    return train, evaluation, info

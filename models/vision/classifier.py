"""ResNet-18 image classification: the network (ImageNet or CIFAR stem), the d2l fine-tuning
recipe (a new Xavier-initialised output layer, ten times the learning rate on it), the one
evaluation transform that training and serving share, and the servable classifier.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor, nn
from torchvision.models import ResNet, ResNet18_Weights, resnet18
from torchvision.transforms.v2 import functional as TF

from models.data.images import InputLimits
from models.errors import InvalidInputError

STEMS = ("imagenet", "cifar")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def build_resnet18(num_classes: int, stem: str = "imagenet") -> ResNet:
    """torchvision's ResNet-18 with ``num_classes`` outputs.

    ``stem="cifar"`` swaps the 7x7 stride-2 convolution and the max-pool for one 3x3 stride-1
    convolution (He et al.'s CIFAR set-up): small images keep their resolution into the
    residual stages. Every other layer is unchanged, so its weights transfer either way.
    """
    if stem not in STEMS:
        raise InvalidInputError(f"stem {stem!r} is not one of {', '.join(STEMS)}", "stem")
    model = resnet18(num_classes=num_classes)
    if stem == "cifar":
        model.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
        model.maxpool = nn.Identity()
    return model


def imagenet_resnet18(progress: bool = True) -> ResNet:
    """torchvision's ImageNet ResNet-18 (``IMAGENET1K_V1``): read from torch's hub cache
    (``$TORCH_HOME/hub/checkpoints``) when there, downloaded into it otherwise."""
    weights = ResNet18_Weights.IMAGENET1K_V1
    model = resnet18()
    model.load_state_dict(weights.get_state_dict(progress=progress, check_hash=True))
    return model


def replace_head(model: ResNet, num_classes: int) -> None:
    """A new output layer for ``num_classes``, Xavier-uniform weights and zero bias, as d2l's
    fine-tuning does; every other layer keeps its weights."""
    model.fc = nn.Linear(model.fc.in_features, num_classes)
    nn.init.xavier_uniform_(model.fc.weight)
    nn.init.zeros_(model.fc.bias)


def param_groups(model: ResNet, lr: float, head_lr_mult: float) -> list[dict[str, Any]]:
    """The body at ``lr`` and the output layer at ``lr * head_lr_mult`` (d2l: 10)."""
    head = set(id(p) for p in model.fc.parameters())
    body = [p for p in model.parameters() if id(p) not in head and p.requires_grad]
    return [
        {"params": body, "lr": lr, "name": "body"},
        {"params": list(model.fc.parameters()), "lr": lr * head_lr_mult, "name": "head"},
    ]


@dataclass(frozen=True)
class InputSpec:
    """What the model sees: the shorter side resized to ``resize_size``, the centre
    ``input_size`` x ``input_size`` cropped, then normalised with ``mean`` and ``std``."""

    input_size: int
    resize_size: int
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def __post_init__(self) -> None:
        if self.input_size < 8 or self.resize_size < self.input_size:
            raise InvalidInputError(
                f"input size {self.input_size} and resize size {self.resize_size} must satisfy "
                "8 <= input_size <= resize_size",
                "input_size",
            )

    @classmethod
    def for_size(cls, input_size: int, resize_size: int | None = None, **kwargs: Any) -> InputSpec:
        """``resize_size`` defaults to ``input_size / 0.875`` (ImageNet's 256 for 224)."""
        return cls(input_size, resize_size or round(input_size / 0.875), **kwargs)

    def eval_transform(self, image: Image.Image) -> Tensor:
        """An RGB image of any size -> uint8 [3, input_size, input_size]."""
        pixels = TF.pil_to_tensor(image)
        pixels = TF.resize(pixels, [self.resize_size], antialias=True)
        return TF.center_crop(pixels, [self.input_size, self.input_size])

    def normalize(self, batch: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
        """uint8 [B, 3, S, S] -> normalised ``dtype`` [B, 3, S, S] (on the batch's device)."""
        scaled = batch.to(torch.float32) / 255
        mean = torch.tensor(self.mean, device=batch.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=batch.device).view(1, 3, 1, 1)
        return ((scaled - mean) / std).to(dtype)


@dataclass(frozen=True)
class ClassifierCard:
    """What a checkpoint says about its model, besides the weights."""

    classes: list[str]
    stem: str
    spec: InputSpec
    info: dict[str, Any]  # data, command, metrics...


def save_classifier(path: Path, model: ResNet, card: ClassifierCard, half: bool = False) -> None:
    """Weights as safetensors (float16 when ``half``), the card as its metadata."""
    state = {
        key: (value.half() if half and value.is_floating_point() else value).contiguous().cpu()
        for key, value in model.state_dict().items()
    }
    metadata = {
        "format": "d2l-serve/classifier-v1",
        "classes": json.dumps(card.classes),
        "stem": card.stem,
        "spec": json.dumps(asdict(card.spec)),
        "info": json.dumps(card.info),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata=metadata)


def load_classifier_file(path: Path) -> tuple[ResNet, ClassifierCard]:
    """A checkpoint of :func:`save_classifier` as a float32 CPU model and its card."""
    with safe_open(str(path), framework="pt") as file:  # one open: metadata, then tensors
        metadata = file.metadata() or {}
        if metadata.get("format") != "d2l-serve/classifier-v1":
            raise InvalidInputError(f"{path} is not a d2l-serve classifier checkpoint", "path")
        names = file.keys()  # safe_open is not iterable
        state = {name: file.get_tensor(name).float() for name in names}
    spec = json.loads(metadata["spec"])
    card = ClassifierCard(
        classes=json.loads(metadata["classes"]),
        stem=metadata["stem"],
        spec=InputSpec(
            spec["input_size"], spec["resize_size"], tuple(spec["mean"]), tuple(spec["std"])
        ),
        info=json.loads(metadata["info"]),
    )
    model = build_resnet18(len(card.classes), card.stem)
    model.load_state_dict(state)
    return model, card


@dataclass(frozen=True)
class Prediction:
    label: str
    class_id: int
    score: float


class ImageClassifier:
    """A classifier on a device, with LitServe's split: ``preprocess`` one image,
    ``predict`` a batch, ``postprocess`` to the top classes."""

    def __init__(
        self,
        model: ResNet,
        card: ClassifierCard,
        device: torch.device,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self.device = device
        self.dtype = dtype
        self.card = card
        self.classes = card.classes
        self.spec = card.spec
        self.input_size = card.spec.input_size
        memory = torch.channels_last
        self.model = model.to(device=device, dtype=dtype, memory_format=memory).eval()

    @classmethod
    def load(
        cls, path: Path, device: torch.device, dtype: torch.dtype = torch.float32
    ) -> ImageClassifier:
        model, card = load_classifier_file(path)
        return cls(model, card, device, dtype)

    # Any image: its shorter side is resized to the input's, then the centre cropped.
    input_limits = InputLimits()

    @property
    def decode_side(self) -> int:
        """Uploads may be reduced down to this shorter side without changing the input much."""
        return self.spec.resize_size

    def preprocess(self, image: Image.Image) -> Tensor:
        """RGB image -> uint8 [3, S, S]: the evaluation transform of training."""
        return self.spec.eval_transform(image)

    @torch.inference_mode()
    def predict(self, batch: Tensor) -> Tensor:
        """uint8 [B, 3, S, S] -> class probabilities [B, C] (float32, on the CPU)."""
        inputs = self.spec.normalize(batch.to(self.device, non_blocking=True), self.dtype)
        logits = self.model(inputs.contiguous(memory_format=torch.channels_last))
        return logits.float().softmax(dim=1).cpu()

    def postprocess(self, probabilities: Tensor, top_k: int) -> list[list[Prediction]]:
        """The ``top_k`` classes of each row, by decreasing probability."""
        k = min(top_k, len(self.classes))
        scores, indices = probabilities.topk(k, dim=1)
        return [
            [
                Prediction(self.classes[i], i, s)
                for s, i in zip(row_scores, row_indices, strict=True)
            ]
            for row_scores, row_indices in zip(scores.tolist(), indices.tolist(), strict=True)
        ]

    def classify_inputs(self, inputs: list[Tensor], top_ks: list[int]) -> list[list[Prediction]]:
        """Preprocessed images [3, S, S] -> each one's ``top_k`` classes: one forward pass."""
        probabilities = self.predict(torch.stack(inputs))
        return [
            self.postprocess(probabilities[i : i + 1], top_k)[0] for i, top_k in enumerate(top_ks)
        ]

    def classify(self, images: list[Image.Image], top_k: int = 5) -> list[list[Prediction]]:
        batch = torch.stack([self.preprocess(image) for image in images])
        return self.postprocess(self.predict(batch), top_k)

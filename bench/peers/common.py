"""What both peers share: the bench checkpoint as a plain model (float32 as a user writes it, or
the numeric format d2l-serve chose, to compare runtimes beyond numerics), torchvision's
evaluation transform, and the answer's shape (top-5 classes with softmax probabilities)."""

from __future__ import annotations

import io
from pathlib import Path

import torch
from PIL import Image
from torchvision import transforms

from models.vision.classifier import load_classifier_file

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def load_model(
    path: Path, dtype: torch.dtype = torch.float32
) -> tuple[torch.nn.Module, list[str], transforms.Compose]:
    """The checkpoint's model in ``dtype`` (its inputs must be cast to it) and its transform."""
    model, card = load_classifier_file(path)
    model = model.to(dtype)
    transform = transforms.Compose(
        [
            transforms.Resize(card.spec.resize_size),
            transforms.CenterCrop(card.spec.input_size),
            transforms.ToTensor(),
            transforms.Normalize(card.spec.mean, card.spec.std),
        ]
    )
    return model.eval(), card.classes, transform


def read_image(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGB")


def top5(probabilities: torch.Tensor, classes: list[str]) -> dict:
    scores, indices = probabilities.topk(min(5, len(classes)))
    return {
        "predictions": [
            {"label": classes[i], "class_id": i, "score": s}
            for s, i in zip(scores.tolist(), indices.tolist(), strict=True)
        ]
    }

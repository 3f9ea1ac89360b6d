"""What both peers share: the bench checkpoint as a plain model, torchvision's evaluation
transform, and the answer's shape (top-5 classes with softmax probabilities)."""

from __future__ import annotations

import io
from pathlib import Path

import torch
from PIL import Image
from torchvision import transforms

from models.vision.classifier import load_classifier_file


def load_model(path: Path) -> tuple[torch.nn.Module, list[str], transforms.Compose]:
    model, card = load_classifier_file(path)
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
    scores, indices = probabilities.topk(5)
    return {
        "predictions": [
            {"label": classes[i], "class_id": i, "score": s}
            for s, i in zip(scores.tolist(), indices.tolist(), strict=True)
        ]
    }

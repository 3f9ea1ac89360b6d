"""Images for tests: encoded to bytes, and noisy colour patches the colour classifier knows."""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image

RED, GREEN, BLUE = (220, 40, 40), (40, 200, 60), (30, 60, 220)


def encoded(image: Image.Image, fmt: str = "JPEG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def colour_image(colour: tuple[int, int, int], size=(40, 30), seed: int = 0) -> Image.Image:
    noise = torch.randint(
        -40, 40, (size[1], size[0], 3), generator=torch.Generator().manual_seed(seed)
    )
    return Image.fromarray((torch.tensor(colour) + noise).clamp(0, 255).to(torch.uint8).numpy())


def noise_image(size: tuple[int, int], spread: float = 50, seed: int = 0) -> Image.Image:
    """Grey Gaussian noise around 128 (``spread`` its standard deviation), greyscale as
    Pillow's ``effect_noise`` makes it, but seeded: the same image on every run."""
    rng = np.random.default_rng(seed)
    pixels = rng.normal(128, spread, (size[1], size[0])).clip(0, 255).astype(np.uint8)
    return Image.fromarray(pixels)

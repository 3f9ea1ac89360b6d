"""Geometric and photometric effects that synthetic images share: perspective tilts,
lighting, blur and sensor noise, each drawn from the generator it is given."""

from __future__ import annotations

import random

import numpy as np
from PIL import Image, ImageChops, ImageEnhance, ImageFilter


def tilt(layer: Image.Image, rng: random.Random, max_tilt: float) -> Image.Image:
    """A perspective warp: each corner moves by up to ``max_tilt`` of the side, inwards."""
    return tilt_together([layer], rng, max_tilt)[0]


def tilt_together(
    layers: list[Image.Image], rng: random.Random, max_tilt: float
) -> list[Image.Image]:
    """:func:`tilt` drawn once and applied to every layer (all of one size): a seal and its
    silhouette move alike."""
    w, h = layers[0].size
    shift = [rng.uniform(0, max_tilt) * s for s in (w, h, w, h, w, h, w, h)]
    corners = [
        (shift[0], shift[1]),
        (w - shift[2], shift[3]),
        (w - shift[4], h - shift[5]),
        (shift[6], h - shift[7]),
    ]
    source = [(0, 0), (w, 0), (w, h), (0, h)]
    coefficients = perspective_coefficients(corners, source)
    return [
        layer.transform((w, h), Image.Transform.PERSPECTIVE, coefficients, Image.Resampling.BICUBIC)
        for layer in layers
    ]


def perspective_coefficients(
    destination: list[tuple[float, float]], source: list[tuple[float, float]]
) -> list[float]:
    """PIL's 8 coefficients mapping output (``destination``) points to input (``source``)."""
    matrix, vector = [], []
    for (x, y), (u, v) in zip(destination, source, strict=True):
        matrix.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        matrix.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        vector += [u, v]
    return np.linalg.solve(np.array(matrix), np.array(vector)).tolist()


def photo_effects(image: Image.Image, rng: random.Random) -> Image.Image:
    """Lighting, blur and sensor noise on the whole image (no pixel moves)."""
    image = ImageEnhance.Brightness(image).enhance(rng.uniform(0.6, 1.3))
    image = ImageEnhance.Contrast(image).enhance(rng.uniform(0.7, 1.3))
    image = ImageEnhance.Color(image).enhance(rng.uniform(0.6, 1.3))
    if rng.random() < 0.4:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.5)))
    if rng.random() < 0.3:
        noise = gaussian_noise(image.size, rng.uniform(5, 25), rng).convert("RGB")
        image = ImageChops.add(image, noise, scale=1.0, offset=-128)
    return image


def gaussian_noise(size: tuple[int, int], sigma: float, rng: random.Random) -> Image.Image:
    """Gaussian noise around 128 ("L"), drawn from ``rng`` (Pillow's own noise is not seeded)."""
    draws = np.random.default_rng(rng.getrandbits(64)).normal(128, sigma, (size[1], size[0]))
    return Image.fromarray(draws.clip(0, 255).astype(np.uint8), "L")

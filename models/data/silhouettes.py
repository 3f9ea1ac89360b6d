"""A synthetic seal's mask: the filled outline of its ink (what a person outlining the seal would
draw), and all the seals of one image in one instance map."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

ALPHA_EDGE = 32  # a pixel belongs to the seal from this opacity up


def silhouette(ink: Image.Image) -> Image.Image:
    """The filled outline of a seal's ink ("L", 255 inside): the convex hull of its pixels from
    :data:`ALPHA_EDGE` up, which for a round seal is the disc its outer ring draws."""
    pixels = np.asarray(ink) >= ALPHA_EDGE
    rows = np.flatnonzero(pixels.any(axis=1))
    if rows.size == 0:
        raise ValueError("the seal's ink is empty")
    first = pixels[rows].argmax(axis=1)
    last = pixels.shape[1] - 1 - pixels[rows, ::-1].argmax(axis=1)
    points = [(int(x), int(y)) for y, x in zip(rows, first, strict=True)]
    points += [(int(x), int(y)) for y, x in zip(rows, last, strict=True)]
    filled = Image.new("L", ink.size, 0)
    ImageDraw.Draw(filled).polygon(_convex_hull(points), fill=255, outline=255)
    return filled


def _convex_hull(points: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Andrew's monotone chain: the hull's corners, counter-clockwise."""
    ordered = sorted(set(points))
    if len(ordered) < 3:
        return ordered

    def half(chain_points: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
        chain: list[tuple[int, int]] = []
        for point in chain_points:
            while len(chain) >= 2 and _cross(chain[-2], chain[-1], point) <= 0:
                chain.pop()
            chain.append(point)
        return chain

    lower, upper = half(ordered), half(ordered[::-1])
    return lower[:-1] + upper[:-1]


def _cross(o: tuple[int, int], a: tuple[int, int], b: tuple[int, int]) -> int:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def instance_map(size: tuple[int, int], silhouettes: list[Image.Image]) -> Image.Image:
    """One "L" image of ``size`` where pixel value k + 1 marks the k-th seal (0: none); seals
    never overlap, so one image holds them all (at most 255)."""
    if len(silhouettes) > 255:
        raise ValueError(f"at most 255 seals fit one instance map, got {len(silhouettes)}")
    combined = Image.new("L", size, 0)
    for index, outline in enumerate(silhouettes):
        combined.paste(index + 1, mask=outline)
    return combined

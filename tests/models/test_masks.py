"""Instance masks on the image's pixels: a box's soft mask grid traced to outline polygons and
rasterised to COCO compressed RLE, both decoded back with pycocotools."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pycocotools import mask as coco_mask

from models.ops.masks import (
    SoftMask,
    mask_outlines,
    mask_to_polygons,
    mask_to_rle,
    polygons_to_mask,
    rle_to_mask,
)


def disc_grid(cells: int = 28, radius: float = 0.5) -> torch.Tensor:
    """A soft disc filling its grid: 1 inside ``radius`` (a share of the side), 0 outside."""
    centres = (torch.arange(cells) + 0.5) / cells - 0.5
    ys, xs = torch.meshgrid(centres, centres, indexing="ij")
    return (xs**2 + ys**2 <= radius**2).float()


def disc(radius: float, centre: tuple[float, float], size: tuple[int, int]) -> torch.Tensor:
    width, height = size
    ys, xs = torch.meshgrid(torch.arange(height) + 0.5, torch.arange(width) + 0.5, indexing="ij")
    return (xs - centre[0]) ** 2 + (ys - centre[1]) ** 2 <= radius**2


def iou(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a & b).sum()) / float((a | b).sum())


def test_a_full_grid_outlines_exactly_its_box():
    mask = SoftMask(torch.ones(28, 28), (10.0, 20.0, 66.0, 48.0))
    (ring,) = mask_outlines(mask)
    # the 0.5 level lies half-way from the outer cells' centres to the zeros half a cell out
    assert ring[:, 0].min() == pytest.approx(10) and ring[:, 0].max() == pytest.approx(66)
    assert ring[:, 1].min() == pytest.approx(20) and ring[:, 1].max() == pytest.approx(48)
    filled = rle_to_mask(mask_to_rle(mask, (100, 80)))
    assert bool(filled[20:48, 10:66].all()) and int(filled.sum()) == 56 * 28


@pytest.mark.parametrize("side", [12, 60, 400, 1900])
def test_a_disc_grid_becomes_the_disc_in_its_box_at_any_scale(side):
    box = (30.0, 20.0, 30.0 + side, 20.0 + side)
    size = (side + 60, side + 40)
    mask = SoftMask(disc_grid(), box)
    expected = disc(side / 2, (30 + side / 2, 20 + side / 2), size)
    from_rle = rle_to_mask(mask_to_rle(mask, size))
    assert iou(from_rle, expected) > (0.85 if side == 12 else 0.97)
    polygons = mask_to_polygons(mask, max_points=64)
    assert len(polygons) == 1 and 6 <= len(polygons[0]) <= 128
    # polygons and RLE decode to the same pixels, up to the polygon's simplification
    assert iou(polygons_to_mask(polygons, size), from_rle) > (0.85 if side == 12 else 0.97)


def test_rle_is_what_pycocotools_writes():
    mask = SoftMask(disc_grid(), (5.0, 7.0, 45.0, 47.0))
    rle = mask_to_rle(mask, (90, 70))
    assert rle["size"] == [70, 90] and isinstance(rle["counts"], str)
    decoded = coco_mask.decode({"size": rle["size"], "counts": rle["counts"].encode()})
    encoded_again = coco_mask.encode(np.asfortranarray(decoded))
    assert encoded_again["counts"].decode() == rle["counts"]
    empty = mask_to_rle(SoftMask(torch.zeros(28, 28), (5.0, 7.0, 45.0, 47.0)), (90, 70))
    assert not bool(rle_to_mask(empty).any()) and empty["size"] == [70, 90]


def test_polygons_are_outer_outlines_bounded_in_points_with_holes_filled():
    grid = disc_grid(radius=0.45) - disc_grid(radius=0.2)  # a ring
    grid[:3, :3] = 1  # and a separate corner piece
    mask = SoftMask(grid, (0.0, 0.0, 280.0, 280.0))
    polygons = mask_to_polygons(mask, max_points=12)
    assert len(polygons) == 2 and all(len(p) <= 24 for p in polygons)
    assert len(polygons[0]) > 6  # largest first: the ring, not the corner
    filled = polygons_to_mask(polygons, (280, 280))
    assert bool(filled[140, 140])  # the ring's hole is inside its outer outline
    assert bool(rle_to_mask(mask_to_rle(mask, (280, 280)))[140, 140])
    assert mask_to_polygons(SoftMask(torch.zeros(28, 28), (0.0, 0.0, 5.0, 5.0))) == []
    assert mask_to_polygons(SoftMask(torch.ones(28, 28), (5.0, 5.0, 5.0, 9.0))) == []
    with pytest.raises(ValueError, match="max_points"):
        mask_to_polygons(mask, max_points=2)
    with pytest.raises(ValueError, match=r"\[M, M\]"):
        SoftMask(torch.ones(28, 14), (0.0, 0.0, 1.0, 1.0))


def test_a_sliver_keeps_a_polygon_of_three_points():
    grid = torch.zeros(28, 28)
    grid[13:15, :] = 1
    polygons = mask_to_polygons(SoftMask(grid, (0.0, 0.0, 1000.0, 1000.0)), max_points=3)
    assert len(polygons) == 1 and len(polygons[0]) == 6

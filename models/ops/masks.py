"""Instance masks as a Mask R-CNN hands them out, and the two ways clients receive them: outline
polygons and COCO compressed run-length encoding (RLE).

A mask is a soft M x M grid whose cells tile its box (xyxy, image pixels): the mask branch's
probabilities for the box's class. Its outline is the 0.5 level of the grid interpolated between
cell centres, falling to 0 half a cell outside the box (what pasting the grid bilinearly onto
the image and thresholding it gives, as torchvision's ``paste_masks_in_image`` does), traced by
marching squares (contourpy) on the grid itself: the work depends on M, never on the image's
size. RLE is COCO's rasterisation (pycocotools) of that outline, so RLE and polygons decode to
the same pixels up to the polygons' simplification.
"""

from __future__ import annotations

from dataclasses import dataclass

import contourpy
import numpy as np
import torch
from pycocotools import mask as coco_mask
from torch import Tensor


@dataclass(frozen=True)
class SoftMask:
    """One object's mask: ``probabilities`` (float [M, M]) spanning ``box`` (x1, y1, x2, y2)."""

    probabilities: Tensor
    box: tuple[float, float, float, float]

    def __post_init__(self) -> None:
        shape = tuple(self.probabilities.shape)
        if len(shape) != 2 or shape[0] != shape[1] or shape[0] < 1:
            raise ValueError(f"probabilities must be [M, M], got {list(shape)}")


def mask_outlines(mask: SoftMask, threshold: float = 0.5) -> list[np.ndarray]:
    """The outer outlines of ``mask``'s parts where it reaches ``threshold``: rings [K, 2] of
    (x, y) image pixels, counter-clockwise on screen; holes are left out (filled)."""
    x1, y1, x2, y2 = mask.box
    cells = mask.probabilities.shape[0]
    if x2 <= x1 or y2 <= y1:
        return []
    padded = np.pad(mask.probabilities.detach().float().cpu().numpy(), 1)
    centres = (np.arange(cells + 2, dtype=np.float64) - 0.5) / cells  # box fractions
    xs, ys = x1 + centres * (x2 - x1), y1 + centres * (y2 - y1)
    generator = contourpy.contour_generator(xs, ys, padded, name="serial", line_type="Separate")
    rings = []
    for line in generator.lines(threshold):
        ring = line[:-1] if len(line) > 1 and np.array_equal(line[0], line[-1]) else line
        if len(ring) >= 3 and _signed_area(ring) > 0:  # holes run the other way: left out
            rings.append(ring)
    return rings


def mask_to_polygons(
    mask: SoftMask, max_points: int = 64, min_area: float = 1.0
) -> list[list[float]]:
    """The outer outlines as polygons ``[x1, y1, x2, y2, ...]`` in image pixels, largest first,
    each simplified (Ramer-Douglas-Peucker from a quarter pixel, the tolerance doubled until it
    fits) to at most ``max_points`` points; parts under ``min_area`` square pixels dropped."""
    if max_points < 3:
        raise ValueError(f"max_points must be at least 3, got {max_points}")
    rings = [ring for ring in mask_outlines(mask) if _signed_area(ring) >= min_area]
    rings.sort(key=_signed_area, reverse=True)
    return [[round(float(v), 2) for v in _simplify(ring, max_points).reshape(-1)] for ring in rings]


def mask_to_rle(mask: SoftMask, size: tuple[int, int]) -> dict[str, object]:
    """COCO's compressed RLE of ``mask`` on an image of ``size`` (width, height), as
    ``pycocotools.mask.encode`` writes it: ``{"size": [height, width], "counts": str}``."""
    width, height = size
    rings = [ring.reshape(-1).tolist() for ring in mask_outlines(mask)]
    if rings:
        encoded = coco_mask.merge(coco_mask.frPyObjects(rings, height, width))
    else:
        encoded = coco_mask.encode(np.zeros((height, width, 1), dtype=np.uint8, order="F"))[0]
    return {"size": [height, width], "counts": encoded["counts"].decode("ascii")}


def rle_to_mask(rle: dict[str, object]) -> Tensor:
    """A COCO compressed RLE -> bool [height, width]."""
    counts = rle["counts"]
    encoded = {
        "size": list(rle["size"]),  # type: ignore[call-overload]
        "counts": counts.encode() if isinstance(counts, str) else counts,
    }
    return torch.from_numpy(coco_mask.decode(encoded).astype(bool))


def polygons_to_mask(polygons: list[list[float]], size: tuple[int, int]) -> Tensor:
    """Polygons (each ``[x1, y1, x2, y2, ...]`` in pixels) filled on an image of ``size``
    (width, height), as COCO rasterises a polygon segmentation: bool [height, width]."""
    width, height = size
    if not polygons:
        return torch.zeros(height, width, dtype=torch.bool)
    merged = coco_mask.merge(coco_mask.frPyObjects(polygons, height, width))
    return torch.from_numpy(coco_mask.decode(merged).astype(bool))


def _signed_area(ring: np.ndarray) -> float:
    x, y = ring[:, 0], ring[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def _simplify(ring: np.ndarray, max_points: int) -> np.ndarray:
    tolerance = 0.25
    kept = _rdp_closed(ring, tolerance)
    while len(kept) > max_points:
        tolerance *= 2
        kept = _rdp_closed(ring, tolerance)
    return kept


def _rdp_closed(ring: np.ndarray, tolerance: float) -> np.ndarray:
    """Ramer-Douglas-Peucker on a closed ring, split at the point farthest from the first: at
    least 3 points of a ring that has them."""
    far = int(np.argmax(((ring - ring[0]) ** 2).sum(axis=1)))
    first = _rdp(ring[: far + 1], tolerance)
    second = _rdp(np.vstack([ring[far:], ring[:1]]), tolerance)
    kept = np.vstack([first[:-1], second[:-1]])
    if len(kept) < 3:  # a sliver: keep the point farthest from the two ends
        third = int(np.argmax(np.abs(_distances(ring, ring[0], ring[far]))))
        kept = ring[sorted({0, far, third})]
    return kept


def _rdp(points: np.ndarray, tolerance: float) -> np.ndarray:
    keep = np.zeros(len(points), dtype=bool)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        start, end = stack.pop()
        if end - start < 2:
            continue
        distances = np.abs(_distances(points[start + 1 : end], points[start], points[end]))
        index = int(np.argmax(distances))
        if distances[index] > tolerance:
            middle = start + 1 + index
            keep[middle] = True
            stack += [(start, middle), (middle, end)]
    return points[keep]


def _distances(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Signed distances of ``points`` [K, 2] from the line through ``a`` and ``b``."""
    segment = b - a
    offsets = points - a
    length = float(np.hypot(*segment))
    if length == 0:
        return np.hypot(offsets[:, 0], offsets[:, 1])
    return (segment[0] * offsets[:, 1] - segment[1] * offsets[:, 0]) / length

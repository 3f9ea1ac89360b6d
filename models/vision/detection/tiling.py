"""Tiled inference for large photos: a seal of 60 pixels in a 1,900-pixel photo is 8 pixels once
the photo is resized to a 256-pixel input, too small for any anchor; in a quarter of the photo it
is twice that. A large image is looked at whole and as a 2 x 2 grid of overlapping tiles, and the
boxes of all views are merged by per-class NMS.
"""

from __future__ import annotations

import torch
from PIL import Image
from torch import Tensor

from models.ops import nms
from models.vision.detection.base import Detection, DetectionThresholds

TILE_OVERLAP = 0.25  # neighbouring tiles share this share of a tile's side
EDGE_MARGIN = 2.0  # pixels: a tile's box this close to a cut is a piece of something larger


TILE = 1 / (2 - TILE_OVERLAP)  # a tile's side, as a share of the image's
GRID = [
    (0.0, 0.0, 1.0, 1.0),
    (0.0, 0.0, TILE, TILE),
    (1 - TILE, 0.0, 1.0, TILE),
    (0.0, 1 - TILE, TILE, 1.0),
    (1 - TILE, 1 - TILE, 1.0, 1.0),
]


def tile_grid(width: int, height: int, input_size: int) -> list[tuple[float, float, float, float]]:
    """The views of a ``width`` x ``height`` image as shares of its sides (xyxy in [0, 1]): the
    whole image, then, when its shorter side is at least twice ``input_size``, a 2 x 2 grid of
    tiles, each overlapping its neighbours by :data:`TILE_OVERLAP` of its side."""
    return GRID if min(width, height) >= 2 * input_size else GRID[:1]


def in_pixels(
    view: tuple[float, float, float, float], size: tuple[int, int]
) -> tuple[float, float, float, float]:
    """A view (shares of the sides) in the pixels of an image of ``size`` (width, height)."""
    width, height = size
    return (view[0] * width, view[1] * height, view[2] * width, view[3] * height)


def crop_views(
    image: Image.Image, views: list[tuple[float, float, float, float]]
) -> list[Image.Image]:
    return [image.crop(tuple(round(v) for v in in_pixels(view, image.size))) for view in views]


def merge_views(
    found: list[list[Detection]],
    views: list[tuple[float, float, float, float]],
    frame: tuple[int, int],
    thresholds: DetectionThresholds,
) -> list[Detection]:
    """Detections of each view (in the pixels of that view of the frame) -> detections in the
    frame: tile boxes that touch a cut inside the image are dropped (the whole view sees that
    object), then per-class NMS and the most boxes, by decreasing score."""
    boxes, scores, labels, names = [], [], [], {}
    width, height = frame
    for detections, view in zip(found, views, strict=True):
        whole = view == GRID[0]
        x1, y1, x2, y2 = in_pixels(view, frame)
        for d in detections:
            bx1, by1, bx2, by2 = d.box[0] + x1, d.box[1] + y1, d.box[2] + x1, d.box[3] + y1
            at_cut = (
                (x1 > 0 and bx1 - x1 < EDGE_MARGIN)
                or (y1 > 0 and by1 - y1 < EDGE_MARGIN)
                or (x2 < width and x2 - bx2 < EDGE_MARGIN)
                or (y2 < height and y2 - by2 < EDGE_MARGIN)
            )
            if not whole and at_cut:
                continue
            boxes.append([bx1, by1, bx2, by2])
            scores.append(d.score)
            labels.append(d.class_id)
            names[d.class_id] = d.label
    if not boxes:
        return []
    box_tensor = torch.tensor(boxes, dtype=torch.float32)
    score_tensor = torch.tensor(scores, dtype=torch.float32)
    label_tensor = torch.tensor(labels)
    keep = nms(box_tensor, score_tensor, thresholds.iou_threshold, label_tensor)
    keep = keep[: thresholds.max_detections]
    return [
        Detection(
            box_tensor[i].tolist(),
            float(score_tensor[i]),
            int(label_tensor[i]),
            names[int(label_tensor[i])],
        )
        for i in keep.tolist()
    ]


def stack_views(inputs: list[Tensor]) -> tuple[Tensor, list[int]]:
    """Model inputs, each [3, S, S] (one view) or [V, 3, S, S] (several), as one batch and the
    number of views of each."""
    views = [item if item.dim() == 4 else item.unsqueeze(0) for item in inputs]
    return torch.cat(views), [len(item) for item in views]

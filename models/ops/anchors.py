"""Anchor boxes as d2l teaches them (section "Anchor Boxes"): generation, assignment of
ground truth and offset coding (turning predictions into boxes is ``models.ops.multibox``).
Vectorised over anchors and batch.

Anchors are xyxy boxes in coordinates normalised by the image width and height. A pixel
gets ``len(sizes) + len(ratios) - 1`` anchors: every size with ``ratios[0]``, then
``sizes[0]`` with every other ratio.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor
from torchvision import ops as tv_ops

from models.errors import InvalidInputError
from models.ops.boxes import box_iou
from models.ops.validation import check_shape, check_unit_interval

# d2l's offset normalisation: mu = 0, sigma_x = sigma_y = 0.1, sigma_w = sigma_h = 0.2.
CENTER_SCALE = 10.0  # 1 / sigma_x
SIZE_SCALE = 5.0  # 1 / sigma_w
# d2l adds this inside the log so an empty target box has a finite offset.
LOG_EPS = 1e-6


def anchors_per_pixel(sizes: Sequence[float], ratios: Sequence[float]) -> int:
    """Number of anchors centred on each pixel: ``len(sizes) + len(ratios) - 1``."""
    return len(sizes) + len(ratios) - 1


def multibox_prior(
    height: int,
    width: int,
    sizes: Sequence[float],
    ratios: Sequence[float],
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> Tensor:
    """All anchors of a ``height`` x ``width`` feature map (d2l's ``multibox_prior``).

    Args:
        height (int): rows of the feature map or image.
        width (int): columns.
        sizes (Sequence[float]): anchor scales in (0, 1], relative to the image.
        ratios (Sequence[float]): width / height ratios, > 0.

    Returns:
        Tensor[height * width * k, 4]: normalised xyxy anchors, pixel by pixel in row-major
        order, ``k = anchors_per_pixel(sizes, ratios)`` per pixel.
    """
    half = _half_extents(height, width, sizes, ratios, dtype, device)
    rows = torch.arange(height, dtype=dtype, device=device)
    cols = torch.arange(width, dtype=dtype, device=device)
    center_y, center_x = torch.meshgrid(
        (rows + 0.5) * (1.0 / height), (cols + 0.5) * (1.0 / width), indexing="ij"
    )
    centers = torch.stack((center_x, center_y, center_x, center_y), dim=-1).reshape(-1, 1, 4)
    return (centers + half).reshape(-1, 4)


def multibox_prior_at(
    height: int,
    width: int,
    sizes: Sequence[float],
    ratios: Sequence[float],
    pixels: Tensor,
    *,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """The anchors centred on chosen pixels only, without building the whole map.

    Args:
        height (int), width (int), sizes, ratios: as in :func:`multibox_prior`.
        pixels (Tensor[P, 2], int): ``(row, col)`` of each pixel, inside the map.

    Returns:
        Tensor[P, k, 4]: equal to ``multibox_prior(...).reshape(height, width, k, 4)[rows, cols]``.
    """
    half = _half_extents(height, width, sizes, ratios, dtype, pixels.device)
    if pixels.dim() != 2 or pixels.shape[1] != 2:
        raise InvalidInputError(
            f"pixels must have shape [P, 2], got {list(pixels.shape)}", "pixels"
        )
    outside = (pixels[:, 0] < 0) | (pixels[:, 0] >= height) | (pixels[:, 1] < 0)
    outside |= pixels[:, 1] >= width
    if bool(outside.any()):
        index = int(outside.nonzero()[0, 0])
        raise InvalidInputError(
            f"pixels[{index}] = {pixels[index].tolist()} is outside the {height}x{width} map: "
            f"row must be in [0, {height - 1}] and col in [0, {width - 1}]",
            "pixels",
        )
    center_y = (pixels[:, 0].to(dtype) + 0.5) * (1.0 / height)
    center_x = (pixels[:, 1].to(dtype) + 0.5) * (1.0 / width)
    centers = torch.stack((center_x, center_y, center_x, center_y), dim=-1).reshape(-1, 1, 4)
    return centers + half


def _half_extents(
    height: int,
    width: int,
    sizes: Sequence[float],
    ratios: Sequence[float],
    dtype: torch.dtype,
    device: torch.device | str | None,
) -> Tensor:
    """Tensor[1, k, 4]: ``(-w, -h, w, h) / 2`` of the k anchor shapes, added to a centre."""
    if height < 1 or width < 1:
        raise InvalidInputError(f"height and width must be >= 1, got {height}x{width}")
    if len(sizes) == 0 or len(ratios) == 0:
        raise InvalidInputError("sizes and ratios must each hold at least one value")
    size = torch.as_tensor(sizes, dtype=dtype, device=device)
    ratio = torch.as_tensor(ratios, dtype=dtype, device=device)
    if bool((size <= 0).any()) or not bool(torch.isfinite(size).all()):
        raise InvalidInputError(
            f"sizes must be positive finite numbers, got {list(sizes)}", "sizes"
        )
    if bool((ratio <= 0).any()) or not bool(torch.isfinite(ratio).all()):
        raise InvalidInputError(
            f"ratios must be positive finite numbers, got {list(ratios)}", "ratios"
        )
    root = ratio.sqrt()
    # Same operation order as d2l, so anchors agree with the book to the last bit.
    w = torch.cat((size * root[0], size[0] * root[1:])) * height / width
    h = torch.cat((size / root[0], size[0] / root[1:]))
    return (torch.stack((-w, -h, w, h)).T / 2).unsqueeze(0)


def assign_anchors(
    anchors: Tensor,
    ground_truth: Tensor,
    iou_threshold: float = 0.5,
    valid: Tensor | None = None,
) -> Tensor:
    """Assign the closest ground-truth box to each anchor (d2l's ``assign_anchor_to_bbox``).

    First each ground-truth box, greedily by highest IoU, claims one anchor of its own; then
    every other anchor takes its best box when their IoU is at least ``iou_threshold``.

    Args:
        anchors (Tensor[A, 4]): xyxy anchors.
        ground_truth (Tensor[G, 4] or Tensor[B, G, 4]): xyxy boxes, optionally batched.
        iou_threshold (float): in [0, 1].
        valid (Tensor[G] or Tensor[B, G], bool, optional): False marks padding rows.

    Returns:
        Tensor[A] or Tensor[B, A] (int64): index of the assigned box, -1 for none.
    """
    check_unit_interval(iou_threshold, "iou_threshold")
    check_shape(anchors, (None, 4), "anchors")
    batched = ground_truth.dim() == 3
    if not batched:
        ground_truth = ground_truth.unsqueeze(0)
        valid = None if valid is None else valid.unsqueeze(0)
    check_shape(ground_truth, (None, None, 4), "ground_truth")
    batch, num_gt = ground_truth.shape[:2]
    num_anchors = anchors.shape[0]
    if num_gt == 0:
        assigned = torch.full((batch, num_anchors), -1, dtype=torch.int64, device=anchors.device)
        return assigned if batched else assigned.squeeze(0)
    iou = box_iou(anchors, ground_truth.reshape(-1, 4)).reshape(num_anchors, batch, num_gt)
    iou = iou.permute(1, 0, 2).contiguous()
    if valid is not None:
        iou.masked_fill_(~valid.unsqueeze(1), -1.0)
    best_iou, best_gt = iou.max(dim=2)
    assigned = torch.where(best_iou >= iou_threshold, best_gt, torch.full_like(best_gt, -1))
    # Greedy pass: a loop over ground-truth boxes (few), vectorised over the batch.
    image = torch.arange(batch, device=anchors.device)
    for _ in range(min(num_anchors, num_gt)):
        value, flat = iou.reshape(batch, -1).max(dim=1)
        anchor_index, gt_index = flat // num_gt, flat % num_gt
        found = value >= 0  # discarded rows and columns and padding hold -1
        assigned[image[found], anchor_index[found]] = gt_index[found]
        iou[image, :, gt_index] = -1.0
        iou[image, anchor_index, :] = -1.0
    return assigned if batched else assigned.squeeze(0)


def encode_offsets(anchors: Tensor, boxes: Tensor, eps: float = LOG_EPS) -> Tensor:
    """Offsets of ``boxes`` relative to ``anchors`` (d2l's ``offset_boxes``).

    Args:
        anchors (Tensor[..., 4]): xyxy anchors with positive width and height.
        boxes (Tensor[..., 4]): xyxy target boxes, broadcastable against ``anchors``.
        eps (float): added inside the log, as in d2l.

    Returns:
        Tensor[..., 4]: ``(10 dx / wa, 10 dy / ha, 5 log(eps + w / wa), 5 log(eps + h / ha))``.
    """
    center_anchor = tv_ops.box_convert(anchors, "xyxy", "cxcywh")
    center_box = tv_ops.box_convert(boxes, "xyxy", "cxcywh")
    offset_xy = (
        CENTER_SCALE * (center_box[..., :2] - center_anchor[..., :2]) / center_anchor[..., 2:]
    )
    offset_wh = SIZE_SCALE * torch.log(eps + center_box[..., 2:] / center_anchor[..., 2:])
    return torch.cat((offset_xy, offset_wh), dim=-1)


def decode_offsets(anchors: Tensor, offsets: Tensor) -> Tensor:
    """Boxes from anchors and predicted offsets, the inverse of :func:`encode_offsets`
    (d2l's ``offset_inverse``).

    Args:
        anchors (Tensor[..., 4]): xyxy anchors.
        offsets (Tensor[..., 4]): offsets, broadcastable against ``anchors``.

    Returns:
        Tensor[..., 4]: xyxy boxes.
    """
    center_anchor = tv_ops.box_convert(anchors, "xyxy", "cxcywh")
    xy = offsets[..., :2] * center_anchor[..., 2:] / CENTER_SCALE + center_anchor[..., :2]
    wh = torch.exp(offsets[..., 2:] / SIZE_SCALE) * center_anchor[..., 2:]
    return tv_ops.box_convert(torch.cat((xy, wh), dim=-1), "cxcywh", "xyxy")


class AnchorTargets(NamedTuple):
    """Training targets of :func:`multibox_target`, all for B images and A anchors."""

    offsets: Tensor  # [B, A, 4] offsets to the assigned boxes, zero for background
    mask: Tensor  # [B, A, 4] 1 where an anchor has a box, else 0
    classes: Tensor  # [B, A] int64: 0 for background, else the box's class + 1
    assigned: Tensor  # [B, A] int64: index of the assigned box, -1 for none


def multibox_target(anchors: Tensor, labels: Tensor, iou_threshold: float = 0.5) -> AnchorTargets:
    """Training targets for every anchor of every image (d2l's ``multibox_target``).

    Args:
        anchors (Tensor[A, 4]): xyxy anchors.
        labels (Tensor[B, G, 5]): ``(class, x1, y1, x2, y2)`` per box; rows with class < 0
            are padding.
        iou_threshold (float): see :func:`assign_anchors`.

    Returns:
        AnchorTargets: offsets, mask, classes (d2l's three targets) and the assignment.
    """
    check_shape(labels, (None, None, 5), "labels")
    if labels.shape[1] == 0:  # no boxes: one padding row keeps the shapes below simple
        labels = labels.new_full((labels.shape[0], 1, 5), -1.0)
    valid = labels[..., 0] >= 0
    assigned = assign_anchors(anchors, labels[..., 1:], iou_threshold, valid)
    positive = assigned >= 0
    matched = labels.gather(1, assigned.clamp(min=0).unsqueeze(-1).expand(-1, -1, 5))
    classes = torch.where(positive, matched[..., 0].long() + 1, torch.zeros_like(assigned))
    mask = positive.unsqueeze(-1).expand(-1, -1, 4).to(anchors.dtype)
    offsets = encode_offsets(anchors.unsqueeze(0), matched[..., 1:]) * mask
    return AnchorTargets(offsets, mask, classes, assigned)

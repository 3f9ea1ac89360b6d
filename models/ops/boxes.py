"""Box ops: format conversion, IoU, non-maximum suppression, and validation.

Boxes are ``Tensor[N, 4]`` in ``(x1, y1, x2, y2)`` ("xyxy") unless a format says otherwise,
with ``0 <= x1 <= x2`` and ``0 <= y1 <= y2`` not required (coordinates may be negative or
normalised). The heavy lifting is torchvision's; this module adds validation with messages
that name the bad value, and the few semantics torchvision leaves open (IoU of empty boxes).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor
from torchvision import ops as tv_ops

from models.errors import InvalidInputError

BoxFormat = Literal["xyxy", "xywh", "cxcywh"]
BOX_FORMATS: tuple[str, ...] = ("xyxy", "xywh", "cxcywh")


def check_boxes(
    boxes: Tensor, name: str = "boxes", fmt: str = "xyxy", allow_empty: bool = True
) -> None:
    """Raise :class:`InvalidInputError` unless ``boxes`` are well-formed boxes in ``fmt``.

    Args:
        boxes (Tensor[N, 4]): boxes to check.
        name (str): what the caller calls them, used in the message.
        fmt (str): ``xyxy`` requires ``x1 <= x2`` and ``y1 <= y2``; ``xywh`` and ``cxcywh``
            require non-negative width and height.
        allow_empty (bool): when False, width and height must be positive (boxes that are
            divided by, such as anchors in offset coding).
    """
    _check_format(fmt, "fmt")
    if boxes.dim() != 2 or boxes.shape[1] != 4:
        raise InvalidInputError(
            f"{name} must have shape [N, 4], got {list(boxes.shape)}: give each box as 4 numbers",
            name,
        )
    finite = torch.isfinite(boxes).all(dim=1)
    if not bool(finite.all()):
        index = int((~finite).nonzero()[0, 0])
        raise InvalidInputError(
            f"{name}[{index}] has a non-finite coordinate: use finite numbers", name
        )
    if fmt == "xyxy":
        width, height = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        rule = "x1 <= x2 and y1 <= y2 (xyxy corners)" if allow_empty else "x1 < x2 and y1 < y2"
    else:
        width, height = boxes[:, 2], boxes[:, 3]
        rule = "a width and height >= 0" if allow_empty else "a positive width and height"
    bad = (width < 0) | (height < 0) if allow_empty else (width <= 0) | (height <= 0)
    if bool(bad.any()):
        index = int(bad.nonzero()[0, 0])
        raise InvalidInputError(
            f"{name}[{index}] = {boxes[index].tolist()} is not a valid {fmt} box: it needs {rule}",
            name,
        )


def convert_boxes(boxes: Tensor, in_fmt: str, out_fmt: str) -> Tensor:
    """Convert boxes between ``xyxy``, ``xywh`` (corner, size) and ``cxcywh`` (centre, size).

    Args:
        boxes (Tensor[N, 4]): boxes in ``in_fmt``.
        in_fmt (str): format of ``boxes``.
        out_fmt (str): wanted format.

    Returns:
        Tensor[N, 4]: the boxes in ``out_fmt``.
    """
    _check_format(in_fmt, "in_fmt")
    _check_format(out_fmt, "out_fmt")
    return tv_ops.box_convert(boxes, in_fmt=in_fmt, out_fmt=out_fmt)


def box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """Pairwise intersection over union (Jaccard index) of two sets of xyxy boxes.

    Two boxes whose union has zero area (both empty) have IoU 0, not NaN.

    Args:
        boxes1 (Tensor[N, 4]): first set.
        boxes2 (Tensor[M, 4]): second set.

    Returns:
        Tensor[N, M]: ``iou[i, j]`` of ``boxes1[i]`` and ``boxes2[j]``, in ``[0, 1]``.
    """
    # torchvision divides intersection by union; 0 / 0 is the only source of NaN here.
    return tv_ops.box_iou(boxes1, boxes2).nan_to_num_(nan=0.0)


def nms(
    boxes: Tensor, scores: Tensor, iou_threshold: float, labels: Tensor | None = None
) -> Tensor:
    """Greedy non-maximum suppression; with ``labels``, only boxes of one class suppress each other.

    Args:
        boxes (Tensor[N, 4]): xyxy boxes.
        scores (Tensor[N]): score of each box.
        iou_threshold (float): a box is dropped when its IoU with a kept, higher-scoring box
            is greater than this, in ``[0, 1]``.
        labels (Tensor[N], optional): class of each box (torchvision's ``batched_nms``).

    Returns:
        Tensor[K] (int64): indices of the kept boxes, by decreasing score.
    """
    if not 0.0 <= iou_threshold <= 1.0:
        raise InvalidInputError(
            f"iou_threshold must be in [0, 1], got {iou_threshold}", "iou_threshold"
        )
    if scores.dim() != 1 or scores.shape[0] != boxes.shape[0]:
        raise InvalidInputError(
            f"scores must have one value per box: {boxes.shape[0]} boxes, "
            f"scores of shape {list(scores.shape)}",
            "scores",
        )
    if labels is None:
        return tv_ops.nms(boxes, scores, iou_threshold)
    if labels.dim() != 1 or labels.shape[0] != boxes.shape[0]:
        raise InvalidInputError(
            f"labels must have one value per box: {boxes.shape[0]} boxes, "
            f"labels of shape {list(labels.shape)}",
            "labels",
        )
    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.int64, device=boxes.device)
    # One NMS per class rather than batched_nms's coordinate offsets: shifting boxes rounds
    # their corners, so boxes that just touch could come out overlapping, or the reverse.
    kept = []
    for label in labels.unique():
        members = (labels == label).nonzero().flatten()
        kept.append(members[tv_ops.nms(boxes[members], scores[members], iou_threshold)])
    keep = torch.cat(kept)
    return keep[scores[keep].argsort(descending=True, stable=True)]


def _check_format(fmt: str, name: str) -> None:
    if fmt not in BOX_FORMATS:
        raise InvalidInputError(
            f"{name} must be one of {', '.join(BOX_FORMATS)}; got {fmt!r}", name
        )

"""From a detector's outputs to boxes, d2l's way (section "Anchor Boxes", "Multiscale Object
Detection"): offsets decoded against the anchors, then non-maximum suppression, for the book's
row layout (:func:`multibox_detection`) or per class and image (:func:`multibox_nms`)."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from models.errors import InvalidInputError
from models.ops.anchors import decode_offsets
from models.ops.boxes import nms
from models.ops.validation import check_shape, check_unit_interval


def multibox_detection(
    cls_probs: Tensor,
    offset_preds: Tensor,
    anchors: Tensor,
    nms_threshold: float = 0.5,
    pos_threshold: float = 0.009,
) -> Tensor:
    """Predicted boxes after non-maximum suppression (d2l's ``multibox_detection``).

    The rows and their order are the book's: kept anchors by decreasing confidence, then the
    suppressed ones by index with class -1; a kept anchor whose confidence is below
    ``pos_threshold`` is also background, with confidence ``1 - conf``. Unlike the book's
    code, ``nms_threshold`` is honoured. Suppression is class-agnostic, as in the book.

    Args:
        cls_probs (Tensor[B, C + 1, A]): class probabilities, background first.
        offset_preds (Tensor[B, A, 4] or Tensor[B, A * 4]): predicted offsets.
        anchors (Tensor[A, 4]): xyxy anchors.
        nms_threshold (float): IoU above which a lower-scoring box is suppressed, in [0, 1].
        pos_threshold (float): minimum confidence of a foreground prediction, in [0, 1].

    Returns:
        Tensor[B, A, 6]: ``(class_id, confidence, x1, y1, x2, y2)`` rows.
    """
    check_unit_interval(nms_threshold, "nms_threshold")
    check_unit_interval(pos_threshold, "pos_threshold")
    check_shape(anchors, (None, 4), "anchors")
    num_anchors = anchors.shape[0]
    check_shape(cls_probs, (None, None, num_anchors), "cls_probs")
    batch = cls_probs.shape[0]
    if cls_probs.shape[1] < 2:
        raise InvalidInputError(
            "cls_probs needs a background row and at least one class row", "cls_probs"
        )
    if offset_preds.numel() != batch * num_anchors * 4:
        raise InvalidInputError(
            f"offset_preds must hold 4 offsets per anchor: expected {batch}x{num_anchors}x4, "
            f"got shape {list(offset_preds.shape)}",
            "offset_preds",
        )
    offset_preds = offset_preds.reshape(batch, num_anchors, 4)

    conf, class_id = cls_probs[:, 1:, :].max(dim=1)  # [B, A]
    boxes = decode_offsets(anchors.unsqueeze(0), offset_preds)  # [B, A, 4]
    image_of = torch.arange(batch, device=anchors.device).repeat_interleave(num_anchors)
    keep = nms(boxes.reshape(-1, 4), conf.reshape(-1), nms_threshold, labels=image_of)

    # Sort key: kept rows by their rank in `keep` (decreasing confidence), then the rest by index.
    total = batch * num_anchors
    key = torch.arange(total, device=anchors.device) + total
    key[keep] = torch.arange(keep.numel(), device=anchors.device)
    key = key.reshape(batch, num_anchors)
    kept = key < total
    order = key.argsort(dim=1)

    class_id = torch.where(kept, class_id, torch.full_like(class_id, -1)).gather(1, order)
    conf = conf.gather(1, order)
    boxes = boxes.gather(1, order.unsqueeze(-1).expand(-1, -1, 4))
    below = conf < pos_threshold
    class_id = torch.where(below, torch.full_like(class_id, -1), class_id)
    conf = torch.where(below, 1 - conf, conf)
    return torch.cat((class_id.unsqueeze(-1).to(boxes.dtype), conf.unsqueeze(-1), boxes), dim=-1)


class Detections(NamedTuple):
    """One image's detections, by decreasing score."""

    boxes: Tensor  # [K, 4] xyxy, in the anchors' (normalised) coordinates
    scores: Tensor  # [K]
    labels: Tensor  # [K] int64 class ids from 0 (background excluded)


def multibox_nms(
    cls_probs: Tensor,
    offset_preds: Tensor,
    anchors: Tensor,
    score_threshold: float = 0.5,
    iou_threshold: float = 0.5,
    max_detections: int = 100,
) -> list[Detections]:
    """Decode the offsets and suppress per class with torchvision's batched NMS, for a whole
    batch in one call: the serving counterpart of :func:`multibox_detection` (which is the
    book's class-agnostic version).

    Args:
        cls_probs (Tensor[B, A, C + 1]): class probabilities, background first.
        offset_preds (Tensor[B, A, 4] or Tensor[B, A * 4]): predicted offsets.
        anchors (Tensor[A, 4]): xyxy anchors.
        score_threshold (float): a class score must exceed this, in [0, 1].
        iou_threshold (float): NMS threshold within a class, in [0, 1].
        max_detections (int): at most this many per image.

    Returns:
        list[Detections]: one per image.
    """
    check_unit_interval(score_threshold, "score_threshold")
    batch, num_anchors, width = cls_probs.shape
    boxes = decode_offsets(anchors.unsqueeze(0), offset_preds.reshape(batch, num_anchors, 4))
    scores = cls_probs[..., 1:]
    image, anchor, label = (scores > score_threshold).nonzero(as_tuple=True)
    candidate_scores = scores[image, anchor, label]
    # One NMS group per (image, class): images and classes never suppress each other.
    keep = nms(boxes[image, anchor], candidate_scores, iou_threshold, image * (width - 1) + label)
    results = []
    for index in range(batch):
        mine = keep[image[keep] == index][:max_detections]
        results.append(
            Detections(boxes[image[mine], anchor[mine]], candidate_scores[mine], label[mine])
        )
    return results

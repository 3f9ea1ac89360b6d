"""Pure tensor geometry ops (xyxy is the canonical box format)."""

from models.ops.anchors import (
    AnchorTargets,
    assign_anchors,
    decode_offsets,
    encode_offsets,
    multibox_prior,
    multibox_prior_at,
    multibox_target,
)
from models.ops.boxes import BOX_FORMATS, box_iou, check_boxes, convert_boxes, nms
from models.ops.layers import conv_transpose2d, roi_align, roi_pool
from models.ops.multibox import Detections, multibox_detection, multibox_nms

__all__ = [
    "AnchorTargets",
    "Detections",
    "BOX_FORMATS",
    "assign_anchors",
    "box_iou",
    "check_boxes",
    "conv_transpose2d",
    "convert_boxes",
    "decode_offsets",
    "encode_offsets",
    "multibox_detection",
    "multibox_nms",
    "multibox_prior",
    "multibox_prior_at",
    "multibox_target",
    "nms",
    "roi_align",
    "roi_pool",
]

"""The R-CNN row of the book: torchvision's Faster R-CNN (MobileNetV3-Large FPN, 320 px), as a
second detection backend trained by the same command and served by the same endpoint."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace
from pathlib import Path

import torch
from PIL import Image
from torch import Tensor
from torchvision.models.detection import (
    FasterRCNN,
    FasterRCNN_MobileNet_V3_Large_320_FPN_Weights,
    fasterrcnn_mobilenet_v3_large_320_fpn,
)
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor
from torchvision.transforms.v2 import functional as TF

from models.data.images import InputLimits
from models.ops import nms
from models.ops.masks import SoftMask
from models.vision.detection.base import (
    Detection,
    DetectionThresholds,
    ObjectDetector,
    to_detections,
)
from models.vision.detection.rcnn_resnet import resnet18_faster_rcnn, resnet18_mask_rcnn

INPUT_SIZE = 320  # the model resizes its inputs so the shorter side is 320
MIN_RESIZED_SIDE = 32  # the shorter side after resizing: at least the FPN's coarsest stride / 2


def faster_rcnn(
    num_classes: int,
    pretrained: str | None = None,
    backbone: str = "mobilenet_v3",
    backbone_weights: Path | None = None,
    roi_op: str = "align",
    masks: bool = False,
) -> FasterRCNN:
    """A Faster R-CNN for ``num_classes`` object classes (plus background), or with ``masks``
    the Mask R-CNN of :func:`resnet18_mask_rcnn` (ResNet-18 only).

    Args:
        pretrained: ``coco`` starts from torchvision's COCO weights (downloaded once into
            torchvision's cache, ``$TORCH_HOME``) with a new box predictor; None from scratch.
        backbone: ``mobilenet_v3`` (MobileNetV3-Large FPN, 320 px) or ``resnet18`` (ResNet-18
            FPN, see :func:`resnet18_faster_rcnn`).
        backbone_weights: for ``resnet18``, a classifier checkpoint of this project whose body
            initialises the backbone (the book's pretrained-backbone step).
        roi_op: ``align`` (Faster R-CNN's RoI align) or ``pool`` (Fast R-CNN's RoI pooling).
    """
    if masks:
        if backbone != "resnet18" or roi_op != "align":
            raise ValueError(f"Mask R-CNN is built on resnet18 with RoI align, not {backbone}")
        return resnet18_mask_rcnn(num_classes, backbone_weights)
    if backbone == "resnet18":
        return resnet18_faster_rcnn(num_classes, backbone_weights, roi_op)
    if backbone != "mobilenet_v3":
        raise ValueError(f"backbone must be mobilenet_v3 or resnet18, got {backbone!r}")
    if pretrained == "coco":
        model = fasterrcnn_mobilenet_v3_large_320_fpn(
            weights=FasterRCNN_MobileNet_V3_Large_320_FPN_Weights.COCO_V1
        )
        in_features = model.roi_heads.box_predictor.cls_score.in_features
        model.roi_heads.box_predictor = FastRCNNPredictor(in_features, num_classes + 1)
        return model
    if pretrained is not None:
        raise ValueError(f"pretrained must be coco or None, got {pretrained!r}")
    return fasterrcnn_mobilenet_v3_large_320_fpn(
        weights=None, weights_backbone=None, num_classes=num_classes + 1
    )


class ReducedPrecisionBackbone(torch.nn.Module):
    """A detection backbone (body and FPN: most of a Faster R-CNN's compute) run in ``dtype``
    under autocast, channels-last, handing float32 features on: the RPN and the box head stay in
    float32, so box coordinates keep their precision (bfloat16 steps by 2 px at 300 px)."""

    def __init__(self, backbone: torch.nn.Module, dtype: torch.dtype) -> None:
        super().__init__()
        self.backbone = backbone.to(memory_format=torch.channels_last)
        self.out_channels = backbone.out_channels
        self.dtype = dtype

    def forward(self, images: Tensor) -> OrderedDict[str, Tensor]:
        with torch.autocast(images.device.type, dtype=self.dtype):
            features = self.backbone(images.contiguous(memory_format=torch.channels_last))
        return OrderedDict((name, value.float()) for name, value in features.items())


class RCNNDetector(ObjectDetector):
    """Serves a Faster or Mask R-CNN with the thresholds of each request: the model keeps every
    candidate (no score floor, no suppression) and the request's per-class NMS runs after; a
    Mask R-CNN's mask branch then runs on the kept boxes only (torchvision's forward would
    paste a whole-image mask for every candidate). With a ``dtype`` other than float32 the
    backbone computes in it (:class:`ReducedPrecisionBackbone`)."""

    def __init__(
        self,
        model: FasterRCNN,
        class_names: list[str],
        device: torch.device,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        model.roi_heads.score_thresh = 0.0
        model.roi_heads.nms_thresh = 1.0
        model.roi_heads.detections_per_img = 1000
        if dtype != torch.float32:
            model.backbone = ReducedPrecisionBackbone(model.backbone, dtype)
        self.model = model.to(device).eval()
        self.class_names = class_names
        self.device = device
        self.dtype = dtype
        self.has_masks = bool(model.roi_heads.has_mask())
        self.input_size = INPUT_SIZE
        self.decode_side = INPUT_SIZE
        # The transform scales the shorter side to 320 unless the longer one would pass its
        # max_size; beyond max_size / 32 to 1 the shorter side falls under the 32 px of one
        # cell of the coarsest feature map (and at max_size to 1, to 0 px: an error).
        self.input_limits = InputLimits(max_aspect=model.transform.max_size / MIN_RESIZED_SIDE)

    @classmethod
    def from_checkpoint(
        cls, checkpoint: dict, device: torch.device, dtype: torch.dtype = torch.float32
    ) -> RCNNDetector:
        names = list(checkpoint["class_names"])
        backbone = checkpoint.get("backbone", "mobilenet_v3")
        model = faster_rcnn(
            len(names),
            backbone=backbone,
            roi_op=checkpoint.get("roi_op", "align"),
            masks=checkpoint.get("arch") == "maskrcnn",
        )
        model.load_state_dict({key: value.float() for key, value in checkpoint["model"].items()})
        if "image_mean" in checkpoint:  # the backbone classifier's normalisation
            model.transform.image_mean = list(checkpoint["image_mean"])
            model.transform.image_std = list(checkpoint["image_std"])
        return cls(model, names, device, dtype)

    def preprocess(self, image: Image.Image) -> Tensor:
        """RGB image -> float [3, h, w] in [0, 1], resized by the model's own transform (which
        then, for all but about 1 size in 80, finds nothing more to do): an upload waits for
        its batch at this size, not its own."""
        pixels = TF.to_dtype(TF.pil_to_tensor(image), torch.float32, scale=True)
        resized, _ = self.model.transform.resize(pixels, None)
        return resized

    @torch.inference_mode()
    def detect_inputs(
        self,
        inputs: list[Tensor],
        sizes: list[tuple[int, int]],
        thresholds: list[DetectionThresholds],
    ) -> list[list[Detection]]:
        """Images [3, H, W] in [0, 1] -> boxes (and masks) in images of ``sizes``, each with
        its own thresholds."""
        model = self.model
        images, _ = model.transform([image.to(self.device) for image in inputs])
        features = model.backbone(images.tensors)
        proposals, _ = model.rpn(images, features)
        heads = model.roi_heads
        pooled = heads.box_head(heads.box_roi_pool(features, proposals, images.image_sizes))
        class_logits, box_regression = heads.box_predictor(pooled)
        found = heads.postprocess_detections(
            class_logits, box_regression, proposals, images.image_sizes
        )
        kept = []
        for boxes, scores, labels, limits in zip(*found, thresholds, strict=True):
            keep = scores > limits.score_threshold
            boxes, scores, labels = boxes[keep], scores[keep], labels[keep] - 1  # 0: background
            order = nms(boxes, scores, limits.iou_threshold, labels)[: limits.max_detections]
            kept.append((boxes[order], scores[order], labels[order]))
        wanted = [self.has_masks and limits.masks for limits in thresholds]
        soft_masks = self._masks(features, kept, images.image_sizes, wanted)
        results = []
        for (boxes, scores, labels), (height, width), size, soft in zip(
            kept, images.image_sizes, sizes, soft_masks, strict=True
        ):
            detections = to_detections(
                boxes, scores, labels, (width, height), size, self.class_names
            )
            if soft is not None:  # each mask spans its box: in the image's pixels now
                detections = [
                    replace(d, mask=SoftMask(grid, tuple(d.box)))
                    for d, grid in zip(detections, soft, strict=True)
                ]
            results.append(detections)
        return results

    def _masks(
        self,
        features: OrderedDict[str, Tensor],
        kept: list[tuple[Tensor, Tensor, Tensor]],
        image_sizes: list[tuple[int, int]],
        wanted: list[bool],
    ) -> list[Tensor | None]:
        """Each image's soft masks [K, 28, 28] of its kept boxes (None where not wanted): the
        mask branch on RoI-aligned features, the sigmoid of each box's own class."""
        if not any(wanted):
            return [None] * len(kept)
        heads = self.model.roi_heads
        boxes = [k[0] if want else k[0][:0] for k, want in zip(kept, wanted, strict=True)]
        labels = torch.cat(
            [k[2] if want else k[2][:0] for k, want in zip(kept, wanted, strict=True)]
        )
        logits = heads.mask_predictor(
            heads.mask_head(heads.mask_roi_pool(features, boxes, image_sizes))
        )
        soft = logits[torch.arange(len(logits)), labels + 1].sigmoid().float()
        parts = soft.split([len(b) for b in boxes])
        return [part if want else None for part, want in zip(parts, wanted, strict=True)]

"""The first two members of the R-CNN family, on selective-search region proposals (OpenCV's
``ximgproc``, the ``train`` extra): R-CNN warps every proposal to a fixed size and classifies it
with its own CNN pass (plus a box regressor, as in Girshick et al. 2014); Fast R-CNN runs the CNN
once per image and pools each proposal's features (RoI max pooling), which
:class:`ProposalRPN` feeds to a Faster R-CNN's box head in place of the learned RPN.

They are measured beside Faster and Mask R-CNN (``python -m bench.rcnn_family``), not served.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torchvision.models.detection.image_list import ImageList
from torchvision.ops import box_iou, roi_align
from torchvision.transforms.v2 import functional as TF

from models.ops import nms
from models.ops.anchors import decode_offsets
from models.vision.classifier import load_classifier_file
from models.vision.detection.base import Detection, DetectionThresholds, to_detections

MIN_PROPOSAL_SIDE = 8.0  # pixels: smaller regions are noise of the segmentation


def selective_search(image: Tensor, most: int = 300) -> Tensor:
    """Selective search ("fast" mode) on a float [3, H, W] image in [0, 1]: up to ``most``
    proposals [K, 4] (xyxy pixels), in the order the search ranks them, none under
    :data:`MIN_PROPOSAL_SIDE` pixels a side."""
    import cv2  # the train extra: serving never needs OpenCV

    cv2.setNumThreads(1)
    pixels = (image.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    search = cv2.ximgproc.segmentation.createSelectiveSearchSegmentation()
    search.setBaseImage(np.ascontiguousarray(pixels[:, :, ::-1]))  # OpenCV is BGR
    search.switchToSelectiveSearchFast()
    rects = search.process()
    boxes = torch.as_tensor(rects, dtype=torch.float32).reshape(-1, 4)
    boxes[:, 2:] += boxes[:, :2]  # x, y, w, h -> xyxy
    sides = boxes[:, 2:] - boxes[:, :2]
    return boxes[(sides >= MIN_PROPOSAL_SIDE).all(dim=1)][:most]


class ProposalRPN(nn.Module):
    """Stands in for a Faster R-CNN's RPN: the selective-search proposals of each image (the
    same call in training and inference), computed from the images it is given
    (unnormalised with ``mean`` and ``std``) or looked up in ``known`` by the images' sizes and
    first pixels, where training has cached them."""

    def __init__(self, mean: list[float], std: list[float], most: int = 300) -> None:
        super().__init__()
        self.mean = torch.tensor(mean).view(3, 1, 1)
        self.std = torch.tensor(std).view(3, 1, 1)
        self.most = most

    def forward(
        self, images: ImageList, features: OrderedDict[str, Tensor], targets: object = None
    ) -> tuple[list[Tensor], dict[str, Tensor]]:
        proposals = []
        for tensor, (height, width) in zip(images.tensors, images.image_sizes, strict=True):
            image = tensor[:, :height, :width].cpu() * self.std + self.mean
            proposals.append(selective_search(image, self.most).to(tensor.device))
        return proposals, {}


class WarpedRegionClassifier(nn.Module):
    """R-CNN's per-region network: a ResNet-18 (from a classifier of this project) on each
    region warped to ``side`` x ``side``, with a class score head (background + classes) and a
    box regression head (offsets of the region towards its object)."""

    def __init__(self, classifier_file: Path, num_classes: int, side: int = 64) -> None:
        super().__init__()
        body, card = load_classifier_file(classifier_file)
        body.fc = nn.Identity()
        self.body = body
        self.scores = nn.Linear(512, num_classes + 1)
        self.offsets = nn.Linear(512, 4)
        self.side = side
        self.register_buffer("mean", torch.tensor(card.spec.mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(card.spec.std).view(1, 3, 1, 1))

    def warp(self, image: Tensor, regions: Tensor) -> Tensor:
        """Float [3, H, W] in [0, 1] and regions [K, 4] -> [K, 3, side, side], normalised."""
        crops = roi_align(image[None], [regions], self.side, aligned=True)
        return (crops - self.mean) / self.std

    def forward(self, crops: Tensor) -> tuple[Tensor, Tensor]:
        features = self.body(crops)
        return self.scores(features), self.offsets(features)


class RCNN:
    """R-CNN served like the other detectors (``detect_inputs``): proposals, one CNN pass per
    warped region (in chunks of ``chunk``), class scores, regressed boxes, per-class NMS."""

    has_masks = False

    def __init__(
        self, network: WarpedRegionClassifier, class_names: list[str], most: int = 300
    ) -> None:
        self.network = network.eval()
        self.class_names = class_names
        self.most = most
        self.dtype = torch.float32

    @torch.inference_mode()
    def detect_inputs(
        self,
        inputs: list[Tensor],
        sizes: list[tuple[int, int]],
        thresholds: list[DetectionThresholds],
    ) -> list[list[Detection]]:
        results = []
        for image, size, limits in zip(inputs, sizes, thresholds, strict=True):
            regions = selective_search(image, self.most)
            scores, offsets = [], []
            for chunk in regions.split(256):
                logits, moved = self.network(self.network.warp(image, chunk))
                scores.append(logits.softmax(dim=1)[:, 1:])
                offsets.append(moved)
            probabilities = torch.cat(scores) if scores else torch.zeros(0, 1)
            boxes = decode_offsets(regions, torch.cat(offsets)) if offsets else regions
            height, width = image.shape[-2:]
            boxes = boxes.clamp(min=0).minimum(torch.tensor([width, height, width, height]))
            best, labels = probabilities.max(dim=1)
            keep = best > limits.score_threshold
            boxes, best, labels = boxes[keep], best[keep], labels[keep]
            order = nms(boxes, best, limits.iou_threshold, labels)[: limits.max_detections]
            results.append(
                to_detections(
                    boxes[order],
                    best[order],
                    labels[order],
                    (width, height),
                    size,
                    self.class_names,
                )  # fmt: skip
            )
        return results


def region_targets(
    regions: Tensor, boxes: Tensor, positive: float = 0.5, negative: float = 0.3
) -> tuple[Tensor, Tensor]:
    """R-CNN's training labels of ``regions`` [K, 4] against an image's ``boxes`` [G, 4]:
    1 (object) from IoU ``positive``, 0 (background) under ``negative``, -1 (left out) between;
    and the index of each region's best box."""
    if not len(boxes):
        none = torch.zeros(len(regions), dtype=torch.long)
        return none, none
    overlap = box_iou(regions, boxes)
    best, index = overlap.max(dim=1)
    labels = torch.full((len(regions),), -1, dtype=torch.long)
    labels[best >= positive] = 1
    labels[best < negative] = 0
    return labels, index


def to_unit(image: Tensor) -> Tensor:
    """uint8 [3, H, W] -> float in [0, 1]."""
    return TF.to_dtype(image, torch.float32, scale=True)

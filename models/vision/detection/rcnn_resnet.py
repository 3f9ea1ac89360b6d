"""A Faster R-CNN over a ResNet-18 FPN whose body starts from this project's own classifier (the
book's "pretrained backbone" step, with the CIFAR-10 source playing ImageNet), the Fast R-CNN
ablation (RoI max pooling instead of RoI align in the box head), and the Mask R-CNN: the same
detector plus a fully convolutional mask branch that upsamples with a transposed convolution."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor
from torchvision.models import resnet18
from torchvision.models.detection import FasterRCNN, MaskRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.ops import MultiScaleRoIAlign, roi_pool
from torchvision.ops.poolers import _convert_to_roi_format, _setup_scales

from models.vision.classifier import load_classifier_file

# Seals range from about 15 pixels to the whole 320-pixel input: one size per FPN level.
ANCHOR_SIZES = ((16,), (32,), (64,), (128,), (256,))
ASPECT_RATIOS = ((0.5, 1.0, 2.0),) * len(ANCHOR_SIZES)
FEATURES = ["0", "1", "2", "3"]
# Lighter than torchvision's 256-channel FPN and 1024-wide box head (28.3 M parameters): 15.5 M
# fit the weights budget in float16, and with 128 sampled RoIs and 600 proposals per image
# (one class, a few seals each) training steps are several times cheaper on a CPU.
FPN_CHANNELS = 128
BOX_HEAD_WIDTH = 512
# The mask branch: four 3x3 convolutions on 14x14 RoI-aligned features, then a stride-2
# ConvTranspose2d to the 28x28 mask (torchvision's head, at the FPN's width).
MASK_HEAD_LAYERS = (FPN_CHANNELS,) * 4


class MultiScaleRoIPool(MultiScaleRoIAlign):
    """Fast R-CNN's RoI max pooling (quantised bins) on the FPN level each box maps to: the same
    level choice as :class:`MultiScaleRoIAlign`, only the pooling differs."""

    def forward(
        self, x: dict[str, Tensor], boxes: list[Tensor], image_shapes: list[tuple[int, int]]
    ) -> Tensor:
        features = [x[name] for name in self.featmap_names]
        if self.scales is None or self.map_levels is None:
            self.scales, self.map_levels = _setup_scales(
                features, image_shapes, self.canonical_scale, self.canonical_level
            )
        levels = self.map_levels(boxes)
        rois = _convert_to_roi_format(boxes)
        result = features[0].new_zeros((len(rois), features[0].shape[1], *self.output_size))
        for level, (feature, scale) in enumerate(zip(features, self.scales, strict=True)):
            index = torch.where(levels == level)[0]
            pooled = roi_pool(feature, rois[index], self.output_size, scale)
            result[index] = pooled.to(result.dtype)
        return result


def resnet18_faster_rcnn(
    num_classes: int, backbone_weights: Path | None = None, roi_op: str = "align"
) -> FasterRCNN:
    """ResNet-18 FPN Faster R-CNN for 320-pixel inputs; ``backbone_weights`` is a classifier
    checkpoint of ``python -m models.train classify`` (its 3x3 CIFAR first convolution is placed
    at the centre of the 7x7 one; its input normalisation is kept)."""
    backbone, options = _resnet18_parts(num_classes, backbone_weights, roi_op)
    return FasterRCNN(backbone, num_classes=None, **options)


def resnet18_mask_rcnn(num_classes: int, backbone_weights: Path | None = None) -> MaskRCNN:
    """:func:`resnet18_faster_rcnn` with Mask R-CNN's mask branch: RoI align to 14x14 on the
    box's FPN level, four 3x3 convolutions, a 2x2 stride-2 ``ConvTranspose2d`` to 28x28 and a
    1x1 convolution to one mask logit map per class. Its state dict holds the Faster R-CNN's
    keys unchanged, so a Faster R-CNN file initialises all but the mask branch."""
    backbone, options = _resnet18_parts(num_classes, backbone_weights, "align")
    return MaskRCNN(
        backbone,
        num_classes=None,
        mask_roi_pool=MultiScaleRoIAlign(FEATURES, output_size=14, sampling_ratio=2),
        mask_head=MaskRCNNHeads(FPN_CHANNELS, MASK_HEAD_LAYERS, dilation=1),
        mask_predictor=MaskRCNNPredictor(MASK_HEAD_LAYERS[-1], FPN_CHANNELS, num_classes + 1),
        **options,
    )


def _resnet18_parts(
    num_classes: int, backbone_weights: Path | None, roi_op: str
) -> tuple[BackboneWithFPN, dict]:
    """The backbone and the options both R-CNNs share."""
    if roi_op not in {"align", "pool"}:
        raise ValueError(f"roi_op must be align or pool, got {roi_op!r}")
    body = resnet18(weights=None)
    backbone = BackboneWithFPN(
        body,
        return_layers={f"layer{i + 1}": name for i, name in enumerate(FEATURES)},
        in_channels_list=[64, 128, 256, 512],
        out_channels=FPN_CHANNELS,
    )
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    if backbone_weights is not None:
        source, card = load_classifier_file(backbone_weights)
        mean, std = tuple(card.spec.mean), tuple(card.spec.std)
        state = {k: v for k, v in source.state_dict().items() if not k.startswith("fc.")}
        conv1 = state["conv1.weight"]
        if conv1.shape[-1] != 7:
            wide = torch.zeros(conv1.shape[0], conv1.shape[1], 7, 7)
            offset = (7 - conv1.shape[-1]) // 2
            wide[:, :, offset : offset + conv1.shape[-2], offset : offset + conv1.shape[-1]] = conv1
            state["conv1.weight"] = wide
        missing, unexpected = backbone.body.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ValueError(f"{backbone_weights} is not a ResNet-18: {missing or unexpected}")
    pooler_type = MultiScaleRoIPool if roi_op == "pool" else MultiScaleRoIAlign
    return backbone, {
        "min_size": 320,
        "max_size": 640,
        "image_mean": list(mean),
        "image_std": list(std),
        "rpn_anchor_generator": AnchorGenerator(ANCHOR_SIZES, ASPECT_RATIOS),
        "box_roi_pool": pooler_type(FEATURES, output_size=7, sampling_ratio=2),
        "box_head": TwoMLPHead(FPN_CHANNELS * 7 * 7, BOX_HEAD_WIDTH),
        "box_predictor": FastRCNNPredictor(BOX_HEAD_WIDTH, num_classes + 1),
        "box_batch_size_per_image": 128,
        "rpn_pre_nms_top_n_train": 600,
        "rpn_post_nms_top_n_train": 600,
        "rpn_pre_nms_top_n_test": 600,
        "rpn_post_nms_top_n_test": 300,
    }

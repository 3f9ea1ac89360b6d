"""TinySSD (d2l's section "Single Shot Multibox Detection"): a base network and four more
scales, each with its own anchors, a class-prediction conv layer with a * (q + 1) channels and
a box-offset conv layer with a * 4 channels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.ops import multibox_prior, multibox_target
from models.ops.anchors import anchors_per_pixel

DEFAULT_SIZES = ((0.2, 0.272), (0.37, 0.447), (0.54, 0.619), (0.71, 0.79), (0.88, 0.961))
DEFAULT_RATIOS = ((1.0, 2.0, 0.5),) * 5


@dataclass(frozen=True)
class AnchorConfig:
    """Anchor sizes and ratios per scale (five scales, finest first)."""

    sizes: Sequence[Sequence[float]] = field(default=DEFAULT_SIZES)
    ratios: Sequence[Sequence[float]] = field(default=DEFAULT_RATIOS)

    @property
    def per_pixel(self) -> int:
        counts = {anchors_per_pixel(s, r) for s, r in zip(self.sizes, self.ratios, strict=True)}
        if len(counts) != 1:
            raise ValueError("every scale needs the same number of anchors per pixel")
        return counts.pop()

    def as_dict(self) -> dict[str, list[list[float]]]:
        return {"sizes": [list(s) for s in self.sizes], "ratios": [list(r) for r in self.ratios]}


def down_sample_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """Two 3x3 conv + batch norm + ReLU, then 2x2 max pooling: halves height and width."""
    layers: list[nn.Module] = []
    for _ in range(2):
        layers += [
            nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
        ]
        in_channels = out_channels
    layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class TinySSD(nn.Module):
    """Five scales: a base network (3 -> 16 -> 32 -> 64 channels, /8), two down-sampling
    blocks to 128 channels, one more, and a global max pool.

    Args:
        num_classes: object classes q (background excluded).
        input_size: side of the square input; anchors are computed once for it.
        anchors: sizes and ratios per scale.
    """

    def __init__(
        self, num_classes: int, input_size: int = 256, anchors: AnchorConfig | None = None
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.input_size = input_size
        self.anchor_config = anchors or AnchorConfig()
        if len(self.anchor_config.sizes) != 5:
            raise ValueError("TinySSD has five scales: give five lists of sizes and ratios")
        per_pixel = self.anchor_config.per_pixel
        base = nn.Sequential(
            down_sample_block(3, 16), down_sample_block(16, 32), down_sample_block(32, 64)
        )
        self.blocks = nn.ModuleList(
            [
                base,
                down_sample_block(64, 128),
                down_sample_block(128, 128),
                down_sample_block(128, 128),
                nn.AdaptiveMaxPool2d((1, 1)),
            ]
        )
        channels = [64, 128, 128, 128, 128]
        self.class_heads = nn.ModuleList(
            nn.Conv2d(c, per_pixel * (num_classes + 1), kernel_size=3, padding=1) for c in channels
        )
        self.box_heads = nn.ModuleList(
            nn.Conv2d(c, per_pixel * 4, kernel_size=3, padding=1) for c in channels
        )
        self.register_buffer("anchors", self._make_anchors(), persistent=False)

    def _make_anchors(self) -> Tensor:
        """Anchors of every scale for the input size (the feature-map sizes come from a dry run)."""
        with torch.no_grad():
            x = torch.zeros(1, 3, self.input_size, self.input_size)
            per_scale = []
            for block, sizes, ratios in zip(
                self.blocks, self.anchor_config.sizes, self.anchor_config.ratios, strict=True
            ):
                x = block(x)
                per_scale.append(multibox_prior(x.shape[2], x.shape[3], sizes, ratios))
        return torch.cat(per_scale)

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """Class logits and box offsets for every anchor.

        Args:
            images (Tensor[B, 3, S, S]): floats in [0, 1], S the input size.

        Returns:
            cls_logits (Tensor[B, A, q + 1]) and offsets (Tensor[B, A, 4]), A = len(self.anchors).
        """
        class_maps, box_maps = [], []
        x = images
        for block, class_head, box_head in zip(
            self.blocks, self.class_heads, self.box_heads, strict=True
        ):
            x = block(x)
            class_maps.append(class_head(x).permute(0, 2, 3, 1).flatten(start_dim=1))
            box_maps.append(box_head(x).permute(0, 2, 3, 1).flatten(start_dim=1))
        batch = images.shape[0]
        cls_logits = torch.cat(class_maps, dim=1).reshape(batch, -1, self.num_classes + 1)
        offsets = torch.cat(box_maps, dim=1).reshape(batch, -1, 4)
        return cls_logits, offsets


@dataclass(frozen=True)
class SSDLoss:
    """d2l's loss: cross-entropy over classes plus L1 over the offsets of anchors that have a
    box; with the book's training figures (class error, bbox MAE) alongside."""

    loss: Tensor
    class_error: float
    bbox_mae: float


def ssd_loss(
    cls_logits: Tensor,
    offsets: Tensor,
    anchors: Tensor,
    labels: Tensor,
    negative_ratio: int | None = None,
) -> SSDLoss:
    """Args: model outputs [B, A, q + 1] and [B, A, 4], anchors [A, 4], labels [B, G, 5]
    ``(class, x1, y1, x2, y2)`` normalised, class -1 for padding.

    With ``negative_ratio`` None the loss is the book's: both terms averaged over every anchor.
    With a ratio k it is the SSD paper's: the cross-entropy counts the positive anchors and
    only the k times as many hardest negatives, and both terms are divided by the number of
    positives, so the few anchors on an object are not drowned by thousands of background ones.
    """
    target = multibox_target(anchors, labels)
    batch = cls_logits.shape[0]
    cls = F.cross_entropy(
        cls_logits.reshape(-1, cls_logits.shape[-1]), target.classes.reshape(-1), reduction="none"
    ).reshape(batch, -1)
    bbox = F.l1_loss(offsets * target.mask, target.offsets * target.mask, reduction="none")
    bbox = bbox.reshape(batch, -1)
    if negative_ratio is None:
        loss = cls.mean(dim=1) + bbox.mean(dim=1)
    else:
        positive = target.classes > 0
        positives = positive.sum(dim=1, keepdim=True)
        hardness = cls.detach().masked_fill(positive, -1.0)
        rank = hardness.argsort(dim=1, descending=True).argsort(dim=1)
        negative = rank < negative_ratio * positives.clamp(min=1)
        counted = positives.squeeze(1).clamp(min=1)
        loss = ((cls * (positive | negative)).sum(dim=1) + bbox.sum(dim=1)) / counted
    with torch.no_grad():
        class_error = (cls_logits.argmax(dim=-1) != target.classes).float().mean().item()
        bbox_mae = ((target.offsets - offsets) * target.mask).abs().mean().item()
    return SSDLoss(loss.mean(), class_error, bbox_mae)

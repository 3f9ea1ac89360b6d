"""Training augmentation for detection that keeps boxes right, from torchvision's v2
transforms (they move and clip boxes with the pixels), and the shared evaluation transform."""

from __future__ import annotations

import torch
from torch import Tensor
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF


def to_model_input(image: Tensor, size: int) -> Tensor:
    """uint8 [3, H, W] -> float [3, size, size] in [0, 1]: what the model sees, in training
    and in serving alike."""
    return TF.to_dtype(TF.resize(image, [size, size], antialias=True), torch.float32, scale=True)


class DetectionAugmentation:
    """Random horizontal flip, colour jitter, and a random crop (60-100% of the area, then
    resized back) with the boxes clipped to it; boxes left with almost no area are dropped.
    Each step can be switched off (to test them one by one).

    Call with a uint8 image [3, S, S], normalised xyxy boxes [G, 4] and labels [G].
    """

    def __init__(
        self,
        size: int,
        flip: bool = True,
        jitter: bool = True,
        crop: bool = True,
        crop_scale: tuple[float, float] = (0.6, 1.0),
    ) -> None:
        self.size = size
        steps: list[v2.Transform] = []
        if flip:
            steps.append(v2.RandomHorizontalFlip(p=0.5))
        if jitter:
            steps.append(v2.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.05))
        if crop:
            steps.append(
                v2.RandomResizedCrop(size, scale=crop_scale, ratio=(3 / 4, 4 / 3), antialias=True)
            )
        steps.append(v2.SanitizeBoundingBoxes(min_size=2.0))
        self.transform = v2.Compose(steps)

    def __call__(
        self, image: Tensor, boxes: Tensor, labels: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        height, width = image.shape[-2:]
        scale = torch.tensor([width, height, width, height], dtype=boxes.dtype)
        pixel_boxes = tv_tensors.BoundingBoxes(
            boxes * scale, format="XYXY", canvas_size=(height, width)
        )
        out_image, target = self.transform(
            tv_tensors.Image(image), {"boxes": pixel_boxes, "labels": labels}
        )
        out_height, out_width = out_image.shape[-2:]
        out_scale = torch.tensor([out_width, out_height, out_width, out_height], dtype=boxes.dtype)
        out_boxes = target["boxes"].as_subclass(Tensor) / out_scale
        return out_image.as_subclass(Tensor), out_boxes, target["labels"]

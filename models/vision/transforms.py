"""Training augmentation for classification, and for detection keeping boxes right (torchvision's
v2 transforms move and clip boxes with the pixels); the shared evaluation transform."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import torch
from PIL import Image
from torch import Tensor
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF


def to_model_input(image: Tensor, size: int) -> Tensor:
    """uint8 [3, H, W] -> float [3, size, size] in [0, 1]: what the model sees, in training
    and in serving alike."""
    return TF.to_dtype(TF.resize(image, [size, size], antialias=True), torch.float32, scale=True)


class AspectKeepingCrop(v2.Transform):
    """A random crop of a share of the area in ``scale`` with the image's own aspect ratio,
    resized so its shorter side is ``size`` (the longer at most ``2 * size``): the crop step for
    a detector that serves photos in their own shape (Faster R-CNN)."""

    def __init__(self, size: int, scale: tuple[float, float] = (0.6, 1.0)) -> None:
        super().__init__()
        if not 0 < scale[0] <= scale[1] <= 1:
            raise ValueError(f"scale must satisfy 0 < low <= high <= 1, got {scale}")
        self.size = size
        self.scale = scale

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        image = next(item for item in flat_inputs if isinstance(item, tv_tensors.Image))
        height, width = image.shape[-2:]
        side = math.sqrt(torch.empty(1).uniform_(*self.scale).item())
        crop_height = max(1, round(height * side))
        crop_width = max(1, min(width, round(crop_height * width / height)))
        top = int(torch.randint(0, height - crop_height + 1, (1,)))
        left = int(torch.randint(0, width - crop_width + 1, (1,)))
        return {"top": top, "left": left, "height": crop_height, "width": crop_width}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        cropped = TF.crop(inpt, **params)
        return TF.resize(cropped, [self.size], max_size=2 * self.size, antialias=True)


class DetectionAugmentation:
    """Random horizontal flip, colour jitter, and a random crop (60-100% of the area, then
    resized back: to a square, or with ``keep_aspect`` in the image's own shape) with the boxes
    clipped to it; boxes left with almost no area are dropped. Each step can be switched off (to
    test them one by one).

    Call with a uint8 image [3, H, W], normalised xyxy boxes [G, 4] and labels [G].
    """

    def __init__(
        self,
        size: int,
        flip: bool = True,
        jitter: bool = True,
        crop: bool = True,
        crop_scale: tuple[float, float] = (0.6, 1.0),
        keep_aspect: bool = False,
    ) -> None:
        self.size = size
        steps: list[v2.Transform] = []
        if flip:
            steps.append(v2.RandomHorizontalFlip(p=0.5))
        if jitter:
            steps.append(v2.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.05))
        if crop and keep_aspect:
            steps.append(AspectKeepingCrop(size, crop_scale))
        elif crop:
            steps.append(
                v2.RandomResizedCrop(size, scale=crop_scale, ratio=(3 / 4, 4 / 3), antialias=True)
            )
        steps.append(v2.SanitizeBoundingBoxes(min_size=2.0))
        self.transform = v2.Compose(steps)

    def __call__(
        self, image: Tensor, boxes: Tensor, labels: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        out_image, out_boxes, out_labels, _ = self.with_masks(image, boxes, labels, None)
        return out_image, out_boxes, out_labels

    def sample(self, sample: Any) -> Any:
        """A :class:`~models.data.detection_csv.DetectionSample` augmented, masks included."""
        image, boxes, labels, masks = self.with_masks(
            sample.image, sample.boxes, sample.labels, sample.masks
        )
        return replace(sample, image=image, boxes=boxes, labels=labels, masks=masks)

    def with_masks(
        self, image: Tensor, boxes: Tensor, labels: Tensor, masks: Tensor | None
    ) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
        """The same, with each object's mask ([G, H, W]) cropped, flipped and resized with
        its pixels (nearest) and dropped with its box."""
        height, width = image.shape[-2:]
        scale = torch.tensor([width, height, width, height], dtype=boxes.dtype)
        pixel_boxes = tv_tensors.BoundingBoxes(
            boxes * scale, format="XYXY", canvas_size=(height, width)
        )
        target: dict[str, Any] = {"boxes": pixel_boxes, "labels": labels}
        if masks is not None:
            target["masks"] = tv_tensors.Mask(masks)
        out_image, target = self.transform(tv_tensors.Image(image), target)
        out_height, out_width = out_image.shape[-2:]
        out_scale = torch.tensor([out_width, out_height, out_width, out_height], dtype=boxes.dtype)
        out_boxes = target["boxes"].as_subclass(Tensor) / out_scale
        out_masks = target["masks"].as_subclass(Tensor) if masks is not None else None
        return out_image.as_subclass(Tensor), out_boxes, target["labels"], out_masks


def shorter_side_at_most(side: int) -> Callable[[Image.Image], Tensor]:
    """Images as uint8 tensors with the shorter side reduced to ``side`` when longer."""

    def prepare(image: Image.Image) -> Tensor:
        pixels = TF.pil_to_tensor(image)
        if min(pixels.shape[-2:]) <= side:
            return pixels
        return TF.resize(pixels, [side], antialias=True)

    return prepare


def classification_augmentation(
    size: int,
    mean: Sequence[float],
    crop: str = "resized",
    min_scale: float = 0.08,
    random_erasing: float = 0.0,
) -> v2.Compose:
    """uint8 [3, H, W] -> uint8 [3, size, size]: a random crop (``padded``: shifted by up to
    an eighth of the side, as for CIFAR; else a random resized crop of at least ``min_scale`` of
    the area), a horizontal flip, and with probability ``random_erasing`` a cutout."""
    if crop == "padded":
        cropping = v2.RandomCrop(size, padding=max(1, size // 8))
    else:
        cropping = v2.RandomResizedCrop(size, scale=(min_scale, 1.0), antialias=True)
    steps = [cropping, v2.RandomHorizontalFlip()]
    if random_erasing > 0:
        # Images are uint8 here: erase to the mean colour, which normalises to zero.
        mean_colour = [round(255 * channel) for channel in mean]
        steps.append(v2.RandomErasing(p=random_erasing, value=mean_colour))
    return v2.Compose(steps)

"""What ``POST /detect/render`` draws: the upload with each box, label and score, and each mask
filled translucently under them."""

from __future__ import annotations

import io

import torch
from torchvision.transforms.v2 import functional as TF
from torchvision.utils import draw_bounding_boxes, draw_segmentation_masks

from app.serving.intake import DecodedImage
from app.serving.memory import trimmed_after
from models.ops.masks import mask_to_rle, rle_to_mask
from models.vision.detection.base import Detection


def render_png(decoded: DecodedImage, found: list[Detection]) -> bytes:
    """The image with each box, label and score drawn (torchvision's draw_bounding_boxes); the
    decoded image is closed, and the memory of a large one given back."""
    if decoded.image is None:
        raise ValueError("render_png needs the decoded image: prepare it with full_size=True")
    with trimmed_after(decoded.decoded_bytes):
        return _drawn_png(decoded, found)


def _drawn_png(decoded: DecodedImage, found: list[Detection]) -> bytes:
    pixels = TF.pil_to_tensor(decoded.image)
    decoded.image.close()  # its last use: the pixels are in the tensor now
    masked = [d.mask for d in found if d.mask is not None]
    if masked:  # filled translucently, under the boxes
        size = (decoded.width, decoded.height)
        union = torch.zeros(decoded.height, decoded.width, dtype=torch.bool)
        for mask in masked:
            union |= rle_to_mask(mask_to_rle(mask, size))
        pixels = draw_segmentation_masks(pixels, union[None], alpha=0.45, colors="red")
    if found:
        boxes = torch.tensor([d.box for d in found])
        width = max(2, round(max(decoded.width, decoded.height) / 200))
        pixels = draw_bounding_boxes(
            pixels,
            boxes,
            labels=[f"{d.label} {d.score:.2f}" for d in found],
            colors="red",
            width=width,
        )
    buffer = io.BytesIO()
    # The fastest zlib level: several times faster than Pillow's default on large images, for a
    # somewhat larger file (docs/hardening.md has the figures).
    TF.to_pil_image(pixels).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()

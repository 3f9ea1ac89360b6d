"""A trained TinySSD ready to serve: load a checkpoint on a device, then preprocess, predict,
postprocess (LitServe's split), with boxes reported in the pixels of each input image."""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image
from torch import Tensor
from torchvision.transforms.v2 import functional as TF

from models.data.images import InputLimits
from models.ops import multibox_nms
from models.vision.detection.base import (
    DEFAULT_THRESHOLDS,
    Detection,
    DetectionThresholds,
    ObjectDetector,
    to_detections,
)
from models.vision.detection.ssd import AnchorConfig, TinySSD
from models.vision.detection.tiling import (
    GRID,
    crop_views,
    in_pixels,
    merge_views,
    stack_views,
    tile_grid,
)
from models.vision.transforms import to_model_input


class TinySSDDetector(ObjectDetector):
    """TinySSD serving."""

    def __init__(
        self,
        model: TinySSD,
        class_names: list[str],
        device: torch.device,
        dtype: torch.dtype = torch.float32,
        tiling: bool = False,
    ) -> None:
        self.model = model.to(device=device, dtype=dtype, memory_format=torch.channels_last)
        self.tiling = tiling
        self.model.eval()
        self.class_names = class_names
        self.device = device
        self.dtype = dtype
        self.has_masks = False
        self.input_size = model.input_size

    @classmethod
    def load(
        cls, path: Path, device: torch.device, dtype: torch.dtype = torch.float32
    ) -> TinySSDDetector:
        """From a TinySSD checkpoint of ``python -m models.train detect``."""
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        return cls.from_checkpoint(checkpoint, device, dtype)

    @classmethod
    def from_checkpoint(
        cls, checkpoint: dict, device: torch.device, dtype: torch.dtype = torch.float32
    ) -> TinySSDDetector:
        names = list(checkpoint["class_names"])
        model = TinySSD(len(names), checkpoint["input_size"], AnchorConfig(**checkpoint["anchors"]))
        model.load_state_dict({key: value.float() for key, value in checkpoint["model"].items()})
        return cls(model, names, device, dtype, tiling=bool(checkpoint.get("tiling", False)))

    # Any image: it is resized to the square input (tiles of large ones likewise).
    input_limits = InputLimits()

    @property
    def decode_side(self) -> int:
        """The shorter side an upload needs: twice the input when large images are tiled."""
        return 2 * self.input_size if self.tiling else self.input_size

    def preprocess(self, image: Image.Image) -> Tensor:
        """RGB image of any size -> float [3, S, S], the transform of training; with tiling, a
        large image -> [V, 3, S, S], the whole image then its tiles (:mod:`tiling`)."""
        views = tile_grid(*image.size, self.input_size) if self.tiling else GRID[:1]
        if len(views) == 1:
            return to_model_input(TF.pil_to_tensor(image), self.input_size)
        return torch.stack(
            [
                to_model_input(TF.pil_to_tensor(view), self.input_size)
                for view in crop_views(image, views)
            ]
        )

    @torch.inference_mode()
    def predict(self, batch: Tensor) -> tuple[Tensor, Tensor]:
        """Class probabilities [B, A, q + 1] and offsets [B, A, 4] (float32) for a batch
        [B, 3, S, S]."""
        inputs = batch.to(self.device, self.dtype, non_blocking=True)
        cls_logits, offsets = self.model(inputs.contiguous(memory_format=torch.channels_last))
        return cls_logits.float().softmax(dim=-1), offsets.float()

    @torch.inference_mode()
    def postprocess(
        self,
        cls_probs: Tensor,
        offsets: Tensor,
        sizes: list[tuple[int, int]],
        thresholds: DetectionThresholds = DEFAULT_THRESHOLDS,
    ) -> list[list[Detection]]:
        """Per-class NMS over the batch, then boxes scaled to each image's ``(width, height)``
        and clipped to it, by decreasing score."""
        found = multibox_nms(
            cls_probs,
            offsets,
            self.model.anchors,
            thresholds.score_threshold,
            thresholds.iou_threshold,
            thresholds.max_detections,
        )
        return [
            to_detections(d.boxes, d.scores, d.labels, (1.0, 1.0), size, self.class_names)
            for d, size in zip(found, sizes, strict=True)
        ]

    def detect_inputs(
        self,
        inputs: list[Tensor],
        sizes: list[tuple[int, int]],
        thresholds: list[DetectionThresholds],
    ) -> list[list[Detection]]:
        """Preprocessed images ([3, S, S], or [V, 3, S, S] for a tiled one) -> boxes in images
        of ``sizes`` (width, height): one forward pass, then each image's own thresholds."""
        batch, counts = stack_views(inputs)
        cls_probs, offsets = self.predict(batch)
        results, row = [], 0
        for count, size, limits in zip(counts, sizes, thresholds, strict=True):
            views = GRID[:count]
            view_sizes = [
                (round(x2 - x1), round(y2 - y1))
                for x1, y1, x2, y2 in (in_pixels(v, size) for v in views)
            ]
            found = self.postprocess(
                cls_probs[row : row + count], offsets[row : row + count], view_sizes, limits
            )
            results.append(found[0] if count == 1 else merge_views(found, views, size, limits))
            row += count
        return results

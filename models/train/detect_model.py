"""The detector a detection run trains: TinySSD (the book's anchors or its own) or a Faster
R-CNN, and what serving needs to rebuild the latter."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import torch

from models.train.config import MASK_ARCHS, RCNN_ARCHS, DetectConfig, TrainingError
from models.vision.detection.loading import base_weights
from models.vision.detection.rcnn import faster_rcnn
from models.vision.detection.ssd import AnchorConfig, TinySSD

MASK_BRANCH = ("roi_heads.mask_head.", "roi_heads.mask_predictor.")
BACKBONE_BODY = ("backbone.body.",)
# What depends on the number of classes: R-CNN box and mask predictors, TinySSD's class heads.
CLASS_LAYERS = (
    "roi_heads.box_predictor.",
    "roi_heads.mask_predictor.mask_fcn_logits.",
    "class_heads.",
)
# What each --freeze keeps as --init had it; a run saves only the rest, naming the file that
# holds the frozen weights (weights/ stays small: two detectors share one ResNet-18 body).
FROZEN = {
    "detector": lambda key: not key.startswith(MASK_BRANCH),
    "body": lambda key: key.startswith(BACKBONE_BODY),
}


def build_detector(config: DetectConfig, num_classes: int) -> torch.nn.Module:
    """TinySSD with the book's anchors or ``--anchor-sizes``, or a Faster or Mask R-CNN; from
    ``--init`` when given (a Mask R-CNN also from a Faster R-CNN file: its mask branch starts
    fresh)."""
    model: torch.nn.Module
    if config.arch in RCNN_ARCHS:
        pretrained = None if config.pretrained == "none" else config.pretrained
        model = faster_rcnn(
            num_classes,
            pretrained,
            config.backbone,
            config.backbone_weights,
            config.roi_op,
            masks=config.arch in MASK_ARCHS,
        )
        if config.train_proposals is not None:
            model.rpn._pre_nms_top_n["training"] = config.train_proposals
            model.rpn._post_nms_top_n["training"] = config.train_proposals
    else:
        anchors = AnchorConfig()
        if config.anchor_sizes:
            sizes = [
                [float(v) for v in scale.split(",")] for scale in config.anchor_sizes.split(";")
            ]
            anchors = AnchorConfig(sizes=sizes, ratios=[anchors.ratios[0]] * len(sizes))
        model = TinySSD(num_classes, config.input_size, anchors)
    if config.init is not None:
        state = {key: value.float() for key, value in read_init(config.init).items()}
        # Another number of classes: the layers that predict per class start anew (the
        # book's fine-tuning: a new output layer on the pretrained body).
        own = model.state_dict()
        renewed = {
            key
            for key, value in state.items()
            if key.startswith(CLASS_LAYERS) and key in own and own[key].shape != value.shape
        }
        state = {key: value for key, value in state.items() if key not in renewed}
        from_faster = config.arch in MASK_ARCHS and not any(
            k.startswith(MASK_BRANCH) for k in state
        )
        try:  # a Faster R-CNN file for a Mask R-CNN: every weight but the new mask branch's
            missing, unexpected = model.load_state_dict(state, strict=not (from_faster or renewed))
        except RuntimeError as error:
            raise TrainingError(
                f"--init {config.init} does not fit --arch {config.arch}: {error}"
            ) from None
        missing = [key for key in missing if key not in renewed]
        if unexpected or any(not key.startswith(MASK_BRANCH) for key in missing):
            raise TrainingError(
                f"--init {config.init} is not a Faster R-CNN of this design: "
                f"{unexpected or missing}"
            )
    return model


def read_init(path: Path) -> dict[str, torch.Tensor]:
    """The weights of an ``--init`` file; one that holds part of a model (``base_detector``)
    is completed from the file it names, as serving completes it."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if "base_detector" in checkpoint:
        return {**base_weights(path, checkpoint["base_detector"]), **checkpoint["model"]}
    return checkpoint["model"]


def freeze(model: torch.nn.Module, frozen: str) -> None:
    """``--freeze detector`` (only the mask branch learns) or ``body`` (all but the ResNet-18
    body learns); frozen batch norms are kept in evaluation mode by
    :func:`models.train.detect.training_loss`."""
    for key, parameter in model.named_parameters():
        parameter.requires_grad_(not FROZEN[frozen](key))


def base_detector(init: Path, output: Path, frozen: str) -> dict[str, str]:
    """How a partial file names the file holding its frozen weights: ``init``, or the file
    ``init`` itself names when those weights came from there (a mask branch's detector); its
    path relative to the output's folder (both live in ``weights/``) and its SHA-256."""
    holder = init
    checkpoint = torch.load(init, map_location="cpu", weights_only=True)
    if "base_detector" in checkpoint and not any(map(FROZEN[frozen], checkpoint["model"])):
        holder = init.parent / str(checkpoint["base_detector"]["file"])
    relative = os.path.relpath(holder.resolve(), output.resolve().parent)
    return {"file": relative, "sha256": hashlib.sha256(holder.read_bytes()).hexdigest()}


def rcnn_design(config: DetectConfig, model: torch.nn.Module) -> dict[str, Any]:
    """What serving needs to rebuild a Faster or Mask R-CNN: its body, box head and input
    normalisation (the backbone classifier's, which the state dict does not hold)."""
    return {
        "backbone": config.backbone,
        "roi_op": config.roi_op,
        "image_mean": list(model.transform.image_mean),
        "image_std": list(model.transform.image_std),
    }

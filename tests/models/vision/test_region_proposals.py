"""R-CNN and Fast R-CNN, the family's first members: selective-search proposals, R-CNN's region
labels and warped crops, a box head fed with proposals instead of the RPN's."""

from __future__ import annotations

import torch
from PIL import Image, ImageDraw
from torchvision.ops import box_iou
from torchvision.transforms.v2 import functional as TF

from models.vision.classifier import ClassifierCard, InputSpec, build_resnet18, save_classifier
from models.vision.detection.base import DetectionThresholds
from models.vision.detection.rcnn import RCNNDetector, faster_rcnn
from models.vision.detection.region_proposals import (
    MIN_PROPOSAL_SIDE,
    RCNN,
    ProposalRPN,
    WarpedRegionClassifier,
    region_targets,
    selective_search,
)


def scene() -> torch.Tensor:
    """A grey image with a red disc at (40..100, 30..90) and a blue square."""
    image = Image.new("RGB", (160, 120), (128, 128, 128))
    draw = ImageDraw.Draw(image)
    draw.ellipse((40, 30, 100, 90), fill=(200, 30, 30))
    draw.rectangle((115, 70, 150, 105), fill=(30, 30, 200))
    return TF.to_dtype(TF.pil_to_tensor(image), torch.float32, scale=True)


def test_selective_search_proposes_the_objects_regions_within_the_image():
    proposals = selective_search(scene(), most=50)
    assert 0 < len(proposals) <= 50
    sides = proposals[:, 2:] - proposals[:, :2]
    assert bool((sides >= MIN_PROPOSAL_SIDE).all())
    assert bool((proposals[:, :2] >= 0).all()) and bool((proposals[:, 2] <= 160).all())
    disc = torch.tensor([[40.0, 30.0, 101.0, 91.0]])
    assert float(box_iou(proposals, disc).max()) > 0.8  # the disc is one of its regions


def test_region_targets_label_by_overlap():
    regions = torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 12], [0, 0, 20, 20], [50, 50, 60, 60]])
    labels, matched = region_targets(regions, torch.tensor([[0.0, 0, 10, 10]]))
    # IoU 1, 0.83, 0.25 and 0: object, object, background, background
    assert labels.tolist() == [1, 1, 0, 0] and matched.tolist() == [0, 0, 0, 0]
    between = region_targets(torch.tensor([[0.0, 0, 10, 25]]), torch.tensor([[0.0, 0, 10, 10]]))
    assert between[0].tolist() == [-1]  # IoU 0.4: neither, left out of training
    assert region_targets(regions, torch.zeros(0, 4))[0].tolist() == [0, 0, 0, 0]


def test_rcnn_warps_each_region_and_answers_like_a_served_detector(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "source.safetensors"
    spec = InputSpec.for_size(32, 32)
    source = build_resnet18(10, stem="cifar")
    save_classifier(path, source, ClassifierCard([str(i) for i in range(10)], "cifar", spec, {}))
    network = WarpedRegionClassifier(path, 1, side=32)
    image = scene()
    crops = network.warp(image, torch.tensor([[40.0, 30.0, 100.0, 90.0], [0, 0, 16, 16]]))
    assert crops.shape == (2, 3, 32, 32)
    # the first crop is the disc, warped: mostly red once unnormalised
    pixels = crops[0] * network.std[0] + network.mean[0]
    assert float(pixels[0].mean()) > float(pixels[2].mean()) + 0.2
    detector = RCNN(network, ["disc"], most=20)
    (found,) = detector.detect_inputs([image], [(320, 240)], [DetectionThresholds(0.0, 0.5, 5)])
    assert 0 < len(found) <= 5
    assert all(0 <= d.box[0] <= d.box[2] <= 320 and d.label == "disc" for d in found)


def test_fast_rcnn_takes_selective_search_proposals_in_place_of_the_rpn():
    torch.manual_seed(0)
    model = faster_rcnn(1, backbone="resnet18", roi_op="pool")
    model.rpn = ProposalRPN(model.transform.image_mean, model.transform.image_std, most=30)
    model.train()
    image = scene()
    losses = model(
        [image], [{"boxes": torch.tensor([[40.0, 30, 101, 91]]), "labels": torch.tensor([1])}]
    )
    assert set(losses) == {"loss_classifier", "loss_box_reg"}  # no RPN losses: it learns nothing
    detector = RCNNDetector(model, ["disc"], torch.device("cpu"))
    (found,) = detector.detect_inputs([image], [(160, 120)], [DetectionThresholds(0.0, 0.5, 10)])
    assert all(0 <= d.box[0] <= d.box[2] <= 160 for d in found)

"""Mask R-CNN: the Faster R-CNN of a file plus a mask branch (ConvTranspose2d), trained by the
detect command, served with masks that follow their boxes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from models.data.detection_csv import DetectionSample
from models.ops.masks import mask_to_rle, rle_to_mask
from models.train.config import DetectConfig, TrainingError
from models.train.detect import training_loss
from models.train.detect_data import rcnn_batch
from models.train.detect_model import MASK_BRANCH, base_detector, build_detector, freeze
from models.vision.detection.base import DetectionThresholds
from models.vision.detection.loading import load_detector
from models.vision.detection.rcnn import RCNNDetector, faster_rcnn
from models.vision.transforms import DetectionAugmentation


@pytest.fixture(scope="module")
def faster_file(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = faster_rcnn(1, backbone="resnet18")
    path = tmp_path_factory.mktemp("rcnn") / "faster.pt"
    torch.save({"arch": "fasterrcnn", "backbone": "resnet18", "model": model.state_dict(),
                "class_names": ["seal"], "input_size": 320}, path)  # fmt: skip
    return path


def mask_config(init: Path, **options) -> DetectConfig:
    return DetectConfig(arch="maskrcnn", backbone="resnet18", init=init, input_size=160, **options)


def seal_sample() -> DetectionSample:
    """A 160 x 120 image with one disc, its box and its mask."""
    ys, xs = torch.meshgrid(torch.arange(120), torch.arange(160), indexing="ij")
    disc = ((xs - 60) ** 2 + (ys - 50) ** 2 <= 30**2).to(torch.uint8)
    image = torch.full((3, 120, 160), 40, dtype=torch.uint8)
    image[:, disc.bool()] = 220
    box = torch.tensor([[30 / 160, 20 / 120, 91 / 160, 81 / 120]])
    return DetectionSample("disc", image, box, torch.tensor([0]), disc[None])


def test_the_mask_branch_upsamples_with_a_transposed_convolution(faster_file):
    model = build_detector(mask_config(faster_file), 1)
    predictor = model.roi_heads.mask_predictor
    assert isinstance(predictor.conv5_mask, nn.ConvTranspose2d)
    assert predictor.conv5_mask.stride == (2, 2)
    assert model.roi_heads.mask_roi_pool.output_size == (14, 14)


def test_a_faster_rcnn_file_starts_all_but_the_mask_branch(faster_file):
    model = build_detector(mask_config(faster_file), 1)
    faster = torch.load(faster_file, weights_only=True)["model"]
    state = model.state_dict()
    assert {k for k in state if k not in faster} == {k for k in state if k.startswith(MASK_BRANCH)}
    assert all(torch.equal(state[key], value) for key, value in faster.items())
    # a Mask R-CNN file loads whole; another design is refused with what did not fit
    other = faster_file.with_name("other.pt")
    torch.save({"model": {"backbone.body.conv1.weight": torch.zeros(1)}}, other)
    with pytest.raises(TrainingError, match="does not fit --arch maskrcnn"):
        build_detector(mask_config(other), 1)


def test_masks_are_trained_alongside_the_boxes_and_freeze_keeps_the_detector(faster_file):
    torch.manual_seed(0)
    config = mask_config(faster_file, freeze="detector")
    model = build_detector(config, 1)
    freeze(model, "detector")
    model.train()
    empty = DetectionSample(
        "empty",
        torch.zeros(3, 96, 128, dtype=torch.uint8),
        torch.zeros(0, 4),
        torch.zeros(0, dtype=torch.int64),
        torch.zeros(0, 96, 128, dtype=torch.uint8),
    )
    samples = [seal_sample(), empty]
    _, targets = rcnn_batch(samples, None)
    assert targets[0]["masks"].shape == (1, 120, 160) and targets[1]["masks"].shape == (0, 96, 128)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    loss, _ = training_loss(config, model, model, samples, torch.device("cpu"))
    loss.backward()
    trained = [p for p in model.parameters() if p.requires_grad]
    torch.optim.SGD(trained, lr=0.1).step()
    after = model.state_dict()
    changed = {k for k in after if not torch.equal(after[k], before[k])}
    assert changed and all(k.startswith(MASK_BRANCH) for k in changed)
    # without --freeze the loss holds the mask term too: a mask loss of torchvision's
    model.zero_grad()
    torch.manual_seed(1)
    images, targets = rcnn_batch(samples, None)
    assert "loss_mask" in model(images, targets)


def test_config_refuses_a_mask_rcnn_it_cannot_build(faster_file):
    with pytest.raises(TrainingError, match="resnet18"):
        DetectConfig(arch="maskrcnn", backbone="mobilenet_v3")
    with pytest.raises(TrainingError, match="--freeze detector"):
        DetectConfig(arch="fasterrcnn", freeze="detector", init=faster_file)
    assert DetectConfig(arch="maskrcnn", backbone="resnet18").input_shape == "photo"


def test_served_masks_follow_the_boxes_which_stay_the_faster_rcnns(faster_file, tmp_path):
    torch.manual_seed(0)
    model = build_detector(mask_config(faster_file), 1)
    path = tmp_path / "mask.pt"
    torch.save({"arch": "maskrcnn", "backbone": "resnet18", "model": model.state_dict(),
                "class_names": ["seal"], "input_size": 320}, path)  # fmt: skip
    masked = load_detector(path, torch.device("cpu"))
    plain = load_detector(faster_file, torch.device("cpu"))
    assert isinstance(masked, RCNNDetector) and masked.has_masks and not plain.has_masks
    image = seal_sample().image.float() / 255
    limits = DetectionThresholds(0.0, 0.5, 20)
    (with_masks,) = masked.detect_inputs([image], [(640, 480)], [limits])
    (boxes_only,) = plain.detect_inputs([image], [(640, 480)], [limits])
    assert [d.box for d in with_masks] == [d.box for d in boxes_only] and with_masks
    for detection in with_masks:
        assert detection.mask is not None and detection.mask.box == tuple(detection.box)
        assert detection.mask.probabilities.shape == (28, 28)
        pixels = rle_to_mask(mask_to_rle(detection.mask, (640, 480)))
        if pixels.any():  # inside its box, to the pixel
            rows, cols = torch.nonzero(pixels, as_tuple=True)
            x1, y1, x2, y2 = detection.box
            assert cols.min() >= int(x1) and cols.max() < x2 + 1
            assert rows.min() >= int(y1) and rows.max() < y2 + 1
    no_masks = DetectionThresholds(0.0, 0.5, 20, masks=False)
    (plain_answer, masked_answer) = masked.detect_inputs([image, image], [(640, 480)] * 2,
                                                         [no_masks, limits])  # fmt: skip
    assert all(d.mask is None for d in plain_answer)
    assert all(d.mask is not None for d in masked_answer)


def test_augmentation_moves_each_mask_with_its_box():
    torch.manual_seed(3)
    augment = DetectionAugmentation(160, jitter=False, keep_aspect=True)
    sample = seal_sample()
    for _ in range(10):
        moved = augment.sample(sample)
        assert moved.masks is not None and moved.masks.shape[-2:] == moved.image.shape[-2:]
        assert len(moved.masks) == len(moved.boxes)
        height, width = moved.image.shape[-2:]
        for mask, box in zip(moved.masks, moved.boxes, strict=True):
            rows, cols = torch.nonzero(mask, as_tuple=True)
            x1, y1, x2, y2 = (box * torch.tensor([width, height, width, height])).tolist()
            assert abs(cols.min() - x1) <= 2 and abs(cols.max() + 1 - x2) <= 2
            assert abs(rows.min() - y1) <= 2 and abs(rows.max() + 1 - y2) <= 2


def test_a_mask_branch_file_loads_over_its_detector_and_refuses_another(faster_file, tmp_path):
    torch.manual_seed(0)
    model = build_detector(mask_config(faster_file), 1)
    full = tmp_path / "full.pt"
    slim = faster_file.parent / "slim.pt"
    design = {
        "arch": "maskrcnn",
        "backbone": "resnet18",
        "class_names": ["seal"],
        "input_size": 320,
    }
    torch.save({"model": model.state_dict(), **design}, full)
    branch = {k: v for k, v in model.state_dict().items() if k.startswith(MASK_BRANCH)}
    torch.save(
        {"model": branch, "base_detector": base_detector(faster_file, slim, "detector"), **design},
        slim,
    )
    assert slim.stat().st_size < full.stat().st_size / 10
    image = seal_sample().image.float() / 255
    limits = [DetectionThresholds(0.0, 0.5, 5)]
    (a,) = load_detector(slim, torch.device("cpu")).detect_inputs([image], [(160, 120)], limits)
    (b,) = load_detector(full, torch.device("cpu")).detect_inputs([image], [(160, 120)], limits)
    assert [d.box for d in a] == [d.box for d in b]
    assert all(
        torch.equal(x.mask.probabilities, y.mask.probabilities) for x, y in zip(a, b, strict=True)
    )
    other = tmp_path / "other"
    other.mkdir()
    moved = other / "slim.pt"
    moved.write_bytes(slim.read_bytes())
    with pytest.raises(FileNotFoundError, match="missing"):
        load_detector(moved, torch.device("cpu"))
    (other / faster_file.name).write_bytes(faster_file.read_bytes() + b"x")
    with pytest.raises(ValueError, match="restore that file or retrain"):
        load_detector(moved, torch.device("cpu"))


def test_freeze_body_trains_all_but_the_body_and_names_the_file_that_holds_it(faster_file):
    """``--freeze body`` from a mask branch file: the body stays as the detector file has it,
    everything else learns, and the saved file names that detector, not the branch file."""
    torch.manual_seed(0)
    model = build_detector(mask_config(faster_file), 1)
    branch_file = faster_file.parent / "branch.pt"
    branch = {k: v for k, v in model.state_dict().items() if k.startswith(MASK_BRANCH)}
    base = base_detector(faster_file, branch_file, "detector")
    torch.save({"model": branch, "base_detector": base, "arch": "maskrcnn"}, branch_file)
    config = mask_config(branch_file, freeze="body")
    model = build_detector(config, 1)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in branch.items())
    freeze(model, "body")
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    loss, _ = training_loss(config, model, model, [seal_sample()], torch.device("cpu"))
    loss.backward()
    torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1).step()
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert not any(k.startswith("backbone.body.") for k in changed), "weights and BN statistics"
    assert any(k.startswith("backbone.fpn.") for k in changed)
    assert any(k.startswith("rpn.") for k in changed) and any(
        k.startswith(MASK_BRANCH) for k in changed
    )
    named = base_detector(branch_file, faster_file.parent / "out.pt", "body")
    assert named["file"] == faster_file.name
    with pytest.raises(TrainingError, match="--freeze body"):
        DetectConfig(arch="tinyssd", freeze="body", init=faster_file)

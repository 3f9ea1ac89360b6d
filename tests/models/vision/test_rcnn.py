"""Faster R-CNN, the second detection backend: its training loss and its serving path, with a
checkpoint this test writes (no COCO weights can be downloaded here)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch
from PIL import Image
from torchvision.ops import box_iou

from models.data.detection_csv import DetectionSample
from models.manifest import sha256_of
from models.train.config import DetectConfig
from models.train.detect import training_loss
from models.train.detect_data import rcnn_batch
from models.train.photo_eval import evaluate_photos
from models.vision.classifier import ClassifierCard, InputSpec, build_resnet18, save_classifier
from models.vision.detection.base import DetectionThresholds
from models.vision.detection.loading import load_detector
from models.vision.detection.rcnn import RCNNDetector, ReducedPrecisionBackbone, faster_rcnn
from tests.images import noise_image


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = faster_rcnn(num_classes=2)
    path = tmp_path_factory.mktemp("rcnn") / "rcnn.pt"
    torch.save(
        {
            "arch": "fasterrcnn",
            "model": model.state_dict(),
            "class_names": ["cat", "dog"],
            "input_size": 256,
        },
        path,
    )
    return path


def test_the_training_loss_is_torchvisions_sum_of_losses_on_images_of_their_own_shape():
    torch.manual_seed(0)
    model = faster_rcnn(num_classes=2).train()
    samples = [
        DetectionSample(
            "wide",
            torch.randint(0, 256, (3, 128, 192), dtype=torch.uint8),
            torch.tensor([[0.1, 0.1, 0.5, 0.6]]),
            torch.tensor([1]),
        ),
        DetectionSample(
            "square",
            torch.randint(0, 256, (3, 128, 128), dtype=torch.uint8),
            torch.tensor([[0.2, 0.3, 0.9, 0.8], [0.0, 0.0, 0.3, 0.3]]),
            torch.tensor([0, 1]),
        ),
        DetectionSample("empty", torch.zeros(3, 96, 128, dtype=torch.uint8), torch.zeros(0, 4),
                        torch.zeros(0, dtype=torch.int64)),
    ]  # fmt: skip
    images, targets = rcnn_batch(samples, None)
    assert [tuple(image.shape) for image in images] == [(3, 128, 192), (3, 128, 128), (3, 96, 128)]
    assert targets[0]["labels"].tolist() == [2] and targets[1]["labels"].tolist() == [1, 2]
    # Pixel boxes in each image's own frame: x by the width, y by the height.
    torch.testing.assert_close(targets[0]["boxes"], torch.tensor([[19.2, 12.8, 96.0, 76.8]]))
    assert targets[2]["boxes"].shape == (0, 4) and targets[2]["labels"].tolist() == []
    args = DetectConfig(arch="fasterrcnn", input_size=128)
    torch.manual_seed(1)  # the RPN and the box head sample proposals at random
    loss, figures = training_loss(args, model, model, samples, torch.device("cpu"))
    torch.manual_seed(1)
    parts = model(images, targets)
    assert set(parts) == {"loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg"}
    torch.testing.assert_close(loss, sum(parts.values()))
    assert loss > 0 and figures == {}
    loss.backward()
    assert model.roi_heads.box_predictor.cls_score.weight.grad is not None


def test_a_checkpoint_serves_with_the_requests_thresholds(checkpoint):
    detector = load_detector(checkpoint, torch.device("cpu"))
    assert isinstance(detector, RCNNDetector) and detector.class_names == ["cat", "dog"]
    image = noise_image((300, 200), 60).convert("RGB")
    (every,) = detector.detect([image], [(600, 400)], DetectionThresholds(0.0, 1.0, 50))
    assert 0 < len(every) <= 50
    for found in every:
        x1, y1, x2, y2 = found.box
        assert 0 <= x1 <= x2 <= 600 and 0 <= y1 <= y2 <= 400  # in the reported frame
        assert found.label in {"cat", "dog"}
    (strict,) = detector.detect([image], thresholds=DetectionThresholds(0.0, 0.1, 50))
    assert len(strict) <= len(every)
    assert [d.score for d in strict] == sorted((d.score for d in strict), reverse=True)


def test_the_detection_endpoint_serves_either_backend(checkpoint, make_client, write_manifest):
    manifest = write_manifest(
        [
            {
                "name": "rcnn-test",
                "task": "detect",
                "file": str(checkpoint),
                "sha256": sha256_of(checkpoint),
            }
        ]
    )
    client = make_client(
        manifest_path=manifest, default_detect_model="rcnn-test", weights_root=checkpoint.parent
    )
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), "gray").save(buffer, format="PNG")
    response = client.post(
        "/detect",
        files={"file": ("g.png", buffer.getvalue(), "image/png")},
        params={"score_threshold": 0},
    )
    assert response.status_code == 200, response.text
    assert response.json()["model"] == "rcnn-test"
    assert response.json()["image"] == {"width": 64, "height": 48}


def test_a_faster_rcnn_in_training_is_measured_on_photos_as_it_would_be_served(tmp_path):
    torch.manual_seed(0)
    model = faster_rcnn(num_classes=1)
    noise_image((200, 150), 50).convert("RGB").save(tmp_path / "a.jpg")
    labels = tmp_path / "labels.csv"
    labels.write_text("img_name,label,xmin,ymin,xmax,ymax,difficulty\na.jpg,0,10,10,60,60,clear\n")
    args = DetectConfig(photos=tmp_path, photo_labels=labels, negatives=tmp_path, tiling=False)
    report = evaluate_photos(args, model, ["seal"], torch.device("cpu"))
    # What a client of the service gets for the same photo from the same model, judged here.
    model.eval()
    served = RCNNDetector(model, ["seal"], torch.device("cpu"))
    with Image.open(tmp_path / "a.jpg") as photo:
        boxes = served.detect([photo.convert("RGB")])[0]
    iou = box_iou(
        torch.tensor([d.box for d in boxes]).reshape(-1, 4), torch.tensor([[10, 10, 60, 60]])
    )
    found = int(bool((iou >= 0.5).any()))
    false_boxes = int((iou.max(dim=1).values < 0.5).sum()) if len(boxes) else 0
    assert report == {
        "photos_clear_found": found,
        "photos_clear_total": 1,
        "photos_hard_found": 0,
        "photos_hard_total": 0,
        "photos_false_boxes": false_boxes,
        "negatives_photos": 1,
        "negatives_false_boxes": len(boxes),  # the same photo, read as one without the seal
        "negatives_false_per_100": 100.0 * len(boxes),
    }
    model.train()  # training goes on with the same module
    assert model.training


@pytest.mark.parametrize("roi_op", ["align", "pool"])
def test_a_resnet18_faster_rcnn_starts_from_this_projects_classifier(tmp_path, roi_op):
    torch.manual_seed(0)
    source = build_resnet18(10, stem="cifar")
    path = tmp_path / "source.safetensors"
    spec = InputSpec.for_size(32, 32)
    save_classifier(path, source, ClassifierCard([str(i) for i in range(10)], "cifar", spec, {}))
    model = faster_rcnn(1, backbone="resnet18", backbone_weights=path, roi_op=roi_op)
    body = model.backbone.body
    torch.testing.assert_close(body.layer3[0].conv1.weight, source.layer3[0].conv1.weight)
    torch.testing.assert_close(body.conv1.weight[:, :, 2:5, 2:5], source.conv1.weight)
    assert float(body.conv1.weight.detach()[:, :, 0].abs().sum()) == 0  # 3x3 at the centre
    model.train()
    images = [torch.rand(3, 160, 160) for _ in range(2)]
    targets = [
        {"boxes": torch.tensor([[20.0, 30.0, 90.0, 100.0]]), "labels": torch.tensor([1])}
    ] * 2
    losses = model(images, targets)
    assert all(torch.isfinite(value) for value in losses.values())
    model.eval()
    with torch.no_grad():
        (found,) = model(images[:1])
    assert found["boxes"].shape[-1] == 4
    checkpoint = {
        "arch": "fasterrcnn",
        "backbone": "resnet18",
        "roi_op": roi_op,
        "model": model.state_dict(),
        "class_names": ["seal"],
        "input_size": 320,
    }
    served = RCNNDetector.from_checkpoint(checkpoint, torch.device("cpu"))
    assert type(served.model.roi_heads.box_roi_pool).__name__ == (
        "MultiScaleRoIPool" if roi_op == "pool" else "MultiScaleRoIAlign"
    )


def test_a_bfloat16_backbone_hands_float32_features_to_float32_heads(checkpoint):
    exact = load_detector(checkpoint, torch.device("cpu"))
    reduced = load_detector(checkpoint, torch.device("cpu"), torch.bfloat16)
    assert isinstance(reduced, RCNNDetector) and reduced.dtype == torch.bfloat16
    assert isinstance(reduced.model.backbone, ReducedPrecisionBackbone)
    assert reduced.model.roi_heads.box_predictor.bbox_pred.weight.dtype == torch.float32
    image = torch.rand(3, 160, 240)
    with torch.inference_mode():
        features = reduced.model.backbone(image.unsqueeze(0))
        reference = exact.model.backbone(image.unsqueeze(0))
    assert list(features) == list(reference)
    for name, value in features.items():
        assert value.dtype == torch.float32 and value.shape == reference[name].shape
        # Computed in bfloat16 (8 bits of mantissa): close to float32, not equal to it.
        assert not torch.equal(value, reference[name])
        torch.testing.assert_close(value, reference[name], atol=0.1, rtol=0.05)
    limits = [DetectionThresholds(0.0, 1.0, 20)]
    (boxes,) = reduced.detect_inputs([image], [(240, 160)], limits)
    assert boxes and all(0 <= d.box[0] <= d.box[2] <= 240 for d in boxes)

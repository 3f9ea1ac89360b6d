"""The detection training command end to end on a tiny synthetic set: white squares on noise."""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image

from models.manifest import read_manifest, sha256_of
from models.train import detect
from models.train.cli import parse_config
from models.vision.classifier import load_classifier_file
from models.vision.detection.base import DetectionThresholds
from models.vision.detection.tinyssd import TinySSDDetector
from tests.images import noise_image


def test_training_writes_a_servable_checkpoint_curves_and_manifest_entry(squares, tmp_path):
    output = tmp_path / "squares.pt"
    args = parse_config("detect",
        ["--data", str(squares), "--class-names", "square", "--epochs", "3", "--batch-size", "8",
         "--input-size", "64", "--val-fraction", "0.25", "--no-progress", "--half",
         "--output", str(output), "--manifest", str(tmp_path / "manifest.json")]
    )  # fmt: skip
    info = detect.train(args).card
    epochs = info["metrics"]["epochs"]
    assert len(epochs) == 3 and epochs[-1]["loss"] < epochs[0]["loss"]
    for key in ("map_50", "map", "class_error", "bbox_mae", "val_class_error", "val_bbox_mae"):
        assert 0 <= info["metrics"][key] <= 1, key
    assert output.with_suffix(".png").stat().st_size > 10_000
    checkpoint = torch.load(output, weights_only=True)
    assert {"model", "epoch", "args", "class_names", "anchors", "input_size"} <= set(checkpoint)
    assert "optimizer" not in checkpoint, "the optimizer stays in the resumable .ckpt.pt"
    assert checkpoint["model"]["class_heads.0.weight"].dtype == torch.float16
    assert info["metrics"]["measured_on"] == "float16 weights"
    # The recorded figures are those of the float16 file, measured again after rounding.
    rounded = TinySSDDetector.load(output, torch.device("cpu")).model
    assert torch.equal(
        rounded.class_heads[0].weight, checkpoint["model"]["class_heads.0.weight"].float()
    )
    assert checkpoint["class_names"] == ["square"] and checkpoint["input_size"] == 64
    (entry,) = read_manifest(tmp_path / "manifest.json")
    assert entry.task == "detect" and entry.sha256 == sha256_of(output)
    assert entry.info["command"].startswith("python -m models.train detect --data ")

    detector = TinySSDDetector.load(output, torch.device("cpu"))
    image = Image.new("RGB", (300, 200))
    (found,) = detector.detect([image], thresholds=DetectionThresholds(0.0, 0.5, 7))
    assert 0 < len(found) <= 7
    scores = [d.score for d in found]
    assert scores == sorted(scores, reverse=True)
    for d in found:  # boxes in the image's own pixels, clipped to it
        x1, y1, x2, y2 = d.box
        assert 0 <= x1 <= x2 <= 300 and 0 <= y1 <= y2 <= 200
        assert d.label == "square" and d.class_id == 0


def test_an_interrupted_run_resumes_where_it_stopped(squares, tmp_path):
    def run(*extra: str) -> dict:
        args = parse_config("detect",
            ["--data", str(squares), "--class-names", "square", "--batch-size", "8",
             "--input-size", "64", "--val-fraction", "0.25", "--no-progress", "--cosine",
             "--output", str(tmp_path / "squares.pt"), *extra]
        )  # fmt: skip
        return detect.train(args).card

    first = run("--epochs", "1")
    state = torch.load(tmp_path / "squares.ckpt.pt", weights_only=True)
    assert {"model", "optimizer", "schedule", "epoch", "history", "rng"} <= set(state)
    assert state["epoch"] == 1
    resumed = run("--epochs", "2", "--resume")
    epochs = resumed["metrics"]["epochs"]
    assert [row["epoch"] for row in epochs] == [1, 2]
    assert epochs[0] == first["metrics"]["epochs"][0], "the first epoch is kept, not rerun"
    assert "--resume" not in resumed["command"]


def test_synthetic_sets_real_photos_and_negatives_join_the_run(squares, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.open(squares / "images" / "000.png").save(photos / "a.png")
    labels = tmp_path / "labels.csv"
    labels.write_text("img_name,label,xmin,ymin,xmax,ymax,difficulty\na.png,0,0,0,20,20,hard\n")
    first = tmp_path / "first.pt"
    args = parse_config("detect",
        ["--data", str(squares), "--class-names", "square", "--epochs", "1", "--batch-size", "8",
         "--input-size", "64", "--val-fraction", "0.25", "--no-progress",
         "--synthetic", str(squares), "--photos", str(photos), "--photo-labels", str(labels),
         "--negatives", str(photos), "--output", str(first)]
    )  # fmt: skip
    info = detect.train(args).card
    (row,) = info["metrics"]["epochs"]
    assert row["photos_hard_total"] == 1 and row["photos_clear_total"] == 0
    assert row["negatives_photos"] == 1
    assert info["data"]["synthetic"][0]["folder"] == squares.name
    assert f"--synthetic {squares}" in info["command"] and "--photo-labels" not in info["command"]
    checkpoint = torch.load(first, weights_only=True)  # lists of paths are stored as text
    assert checkpoint["args"]["synthetic"] == [str(squares)]
    args.init, args.output = first, tmp_path / "second.pt"
    args.synthetic, args.photos, args.negatives, args.lr = [], None, None, 0.0
    detect.train(args)  # starts from the first run's weights, and (lr 0) keeps them
    second = torch.load(tmp_path / "second.pt", weights_only=True)
    for key, value in checkpoint["model"].items():
        if "running_" not in key and "num_batches" not in key:  # batch-norm statistics move
            torch.testing.assert_close(second["model"][key], value)


def test_a_faster_rcnn_trains_on_negatives_and_serves_with_its_backbones_normalisation(
    squares, tmp_path
):
    from models.vision.detection.rcnn import RCNNDetector

    negatives = tmp_path / "negatives" / "nested"
    negatives.mkdir(parents=True)
    for index in range(3):
        noise_image((80, 60), 30, seed=index).convert("RGB").save(negatives / f"{index}.jpg")
    classifier = Path("weights/resnet18-cifar10.safetensors")
    output = tmp_path / "rcnn.pt"
    args = parse_config("detect",
        ["--data", str(squares), "--class-names", "square", "--epochs", "1", "--batch-size", "8",
         "--input-size", "64", "--val-fraction", "0.25", "--no-progress", "--no-augment",
         "--arch", "fasterrcnn", "--backbone", "resnet18", "--backbone-weights", str(classifier),
         "--lr", "0.001", "--train-negatives", str(tmp_path / "negatives"), "--half",
         "--train-proposals", "64",
         "--output", str(output)]
    )  # fmt: skip
    info = detect.train(args).card
    assert info["data"]["negatives"] == [{"folder": f"{tmp_path.name}/negatives", "images": 3}]
    assert "--train-proposals 64" in info["command"]
    checkpoint = torch.load(output, weights_only=True)
    assert checkpoint["backbone"] == "resnet18" and checkpoint["roi_op"] == "align"
    _, card = load_classifier_file(classifier)
    assert checkpoint["image_mean"] == list(card.spec.mean)
    assert checkpoint["image_std"] == list(card.spec.std)
    checkpoint["image_mean"], checkpoint["image_std"] = [0.5, 0.4, 0.3], [0.2, 0.3, 0.4]
    detector = RCNNDetector.from_checkpoint(checkpoint, torch.device("cpu"))
    assert detector.model.transform.image_mean == [0.5, 0.4, 0.3]
    assert detector.model.transform.image_std == [0.2, 0.3, 0.4]
    blank = Image.new("RGB", (120, 90))
    (found,) = detector.detect([blank], thresholds=DetectionThresholds(0.0, 0.5, 5))
    for d in found:
        x1, y1, x2, y2 = d.box
        assert 0 <= x1 <= x2 <= 120 and 0 <= y1 <= y2 <= 90

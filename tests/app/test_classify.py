"""/classify and /classify/batch on a classifier trained by the project's command (the colour
set), and on the committed ResNet-18s when they are there."""

from __future__ import annotations

import json
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch
from PIL import Image

from app.serving.intake import ImageLimits, decode_image
from models.data.folders import read_image_folder
from models.device import DTYPES
from models.manifest import read_manifest, sha256_of
from models.vision.classifier import ImageClassifier
from tests.app.test_batching import post_image
from tests.data import DATA, needs_data
from tests.devices import (
    ON_GPU,
    SCORE_TOLERANCE,
    SERVING_DEVICE,
    SERVING_DEVICE_NAME,
    SERVING_DTYPE,
    UNMEASURED_REASON,
)
from tests.images import BLUE, GREEN, RED, colour_image, encoded

HYMENOPTERA = DATA / "hymenoptera"
COMMITTED = {entry.name: entry for entry in read_manifest(Path("weights/manifest.json"))}


def test_classify_answers_the_top_classes_by_probability(colour_client):
    upload = encoded(colour_image((220, 40, 40), (64, 48)))
    response = colour_client.post("/classify", files={"file": ("red.jpg", upload, "image/jpeg")})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "colours"
    assert body["image"] == {"width": 64, "height": 48}
    predictions = body["predictions"]
    assert [p["label"] for p in predictions][0] == "red"
    assert len(predictions) == 3  # top_k 5 capped at the three classes
    scores = [p["score"] for p in predictions]
    assert scores == sorted(scores, reverse=True)
    assert sum(scores) == pytest.approx(1.0, abs=1e-5)
    assert {p["label"]: p["class_id"] for p in predictions} == {"blue": 0, "green": 1, "red": 2}
    one = colour_client.post("/classify?top_k=1&model=colours", files={"file": upload})
    assert [p["label"] for p in one.json()["predictions"]] == ["red"]


def test_the_service_answers_what_the_model_answers_in_process(colour_client, colour_classifier):
    image = colour_image((40, 200, 60), (300, 200))
    upload = encoded(image, quality=90)
    served = colour_client.post("/classify?top_k=3", files={"file": upload}).json()
    classifier = ImageClassifier.load(colour_classifier, SERVING_DEVICE, DTYPES[SERVING_DTYPE])
    decoded = decode_image(upload, ImageLimits(), classifier.decode_side)
    (expected,) = classifier.classify([decoded.image], top_k=3)
    assert [p["label"] for p in served["predictions"]] == [p.label for p in expected]
    assert [p["score"] for p in served["predictions"]] == pytest.approx(
        [p.score for p in expected], abs=1e-6 if not ON_GPU else SCORE_TOLERANCE
    )


def test_serving_preprocesses_exactly_as_training_evaluates(colour_classifier, tmp_path):
    """One evaluation transform: the tensors of the training command's validation pass are
    the tensors the service feeds the model for the same files (a big JPEG included, which
    both decode at reduced size)."""
    classifier = ImageClassifier.load(colour_classifier, torch.device("cpu"))
    folder = tmp_path / "set"
    for split in ("train", "val"):
        (folder / split / "red").mkdir(parents=True)
    colour_image((220, 40, 40), (800, 600)).save(folder / "val" / "red" / "big.jpg", quality=92)
    colour_image((220, 40, 40), (45, 70)).save(folder / "val" / "red" / "small.png")
    colour_image((220, 40, 40), (20, 20)).save(folder / "train" / "red" / "a.jpg")
    spec = classifier.spec
    evaluation = read_image_folder(folder, "eval", spec.eval_transform, spec.resize_size)
    for name, tensor in zip(evaluation.files, evaluation.images, strict=True):
        data = (folder / name).read_bytes()
        served = classifier.preprocess(
            decode_image(data, ImageLimits(), classifier.decode_side).image
        )
        assert torch.equal(served, tensor), name


def test_a_batch_keeps_upload_order(colour_client):
    colours = [(220, 40, 40), (30, 60, 220), (40, 200, 60), (30, 60, 220)]
    files = [
        ("file", (f"{i}.png", encoded(colour_image(c, (30 + i, 20)), "PNG"), "image/png"))
        for i, c in enumerate(colours)
    ]
    response = colour_client.post("/classify/batch?top_k=1", files=files)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["predictions"][0]["label"] for r in results] == ["red", "blue", "green", "blue"]
    assert [r["image"]["width"] for r in results] == [30, 31, 32, 33]


def test_models_lists_the_classifier_with_what_front_ends_need(colour_client, colour_classifier):
    (model,) = colour_client.get("/models").json()["models"]
    assert model == {
        "name": "colours",
        "task": "classify",
        "state": "ready",
        "reason": None,
        "default": True,  # D2L_DEFAULT_CLASSIFY_MODEL
        "architecture": "resnet18",
        "classes": ["blue", "green", "red"],
        "input_size": 16,
        "device": SERVING_DEVICE_NAME,
        "dtype": SERVING_DTYPE,
        "dtype_reason": UNMEASURED_REASON,
        "batching": {
            "max_batch_size": 32,
            "max_wait_ms": 2.0,
            "max_queue": 256,
            "max_queue_wait_s": 2.0,
        },
        "metrics": {"val_accuracy": 1.0},
        "accepts": {"max_pixels": 40_000_000, "max_side": 16_384, "min_side": 1, "max_aspect": 20},
        "thresholds": None,  # a detector's calibrated score threshold; none for a classifier
        "masks": None,  # a detector's; none for a classifier
        "sha256": sha256_of(colour_classifier),
    }


@pytest.mark.parametrize(
    ("query", "files", "status", "says"),
    [
        ("?top_k=0", {"file": ("a.png", b"x", "image/png")}, 422, "top_k"),
        ("?top_k=five", {"file": ("a.png", b"x", "image/png")}, 422, "top_k"),
        ("?model=nope", {"file": ("a.png", b"x", "image/png")}, 404, "classify models: colours"),
        ("", {"file": ("notes.txt", b"hello", "text/plain")}, 422, "notes.txt: the file is not"),
        ("", {"file": ("empty.jpg", b"", "image/jpeg")}, 422, "empty.jpg: the file is empty"),
        ("", {"other": ("a.png", b"x", "image/png")}, 422, "file"),
    ],
)
def test_bad_requests_get_a_4xx_that_says_why(colour_client, query, files, status, says):
    response = colour_client.post(f"/classify{query}", files=files)
    assert response.status_code == status, response.text
    assert says in json.dumps(response.json())


def test_other_formats_are_refused_and_big_batches_too(make_client, write_manifest, colour_client):
    tiff = encoded(Image.new("RGB", (8, 8)), "TIFF")
    response = colour_client.post("/classify", files={"file": ("a.tif", tiff)})
    assert response.status_code == 415
    assert "TIFF images are not accepted" in response.json()["detail"]
    png = encoded(Image.new("RGB", (8, 8)), "PNG")
    over = colour_client.post("/classify/batch", files=[("file", ("a.png", png))] * 33)
    assert over.status_code == 413
    assert "D2L_MAX_BATCH_IMAGES" in over.json()["detail"]


def test_a_classifier_that_failed_to_load_answers_503(make_client, write_manifest, tmp_path):
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not safetensors")
    manifest = write_manifest(
        [{"name": "broken", "task": "classify", "file": broken.name, "sha256": sha256_of(broken)}]
    )
    client = make_client(manifest_path=manifest, default_classify_model="broken")
    png = encoded(Image.new("RGB", (8, 8)), "PNG")
    response = client.post("/classify", files={"file": ("a.png", png)})
    assert response.status_code == 503
    assert "model 'broken' failed to load" in response.json()["detail"]


@needs_data("hymenoptera/val")
def test_the_committed_ants_and_bees_model_tells_real_photos_apart(client):
    """All 153 validation photos (never trained on) through the whole service, in batches of
    32: the served accuracy is the one training measured, to within a photo."""
    paths = sorted((HYMENOPTERA / "val").glob("*/*.jpg"))
    labels = []
    for start in range(0, len(paths), 32):
        chunk = paths[start : start + 32]
        files = [("file", (path.name, path.read_bytes(), "image/jpeg")) for path in chunk]
        response = client.post("/classify/batch?top_k=1", files=files)
        assert response.status_code == 200, response.text
        labels += [r["predictions"][0]["label"] for r in response.json()["results"]]
    truth = [path.parent.name for path in paths]
    served = sum(a == b for a, b in zip(labels, truth, strict=True)) / len(paths)
    recorded = COMMITTED["resnet18-hymenoptera"].info["metrics"]["val_accuracy"]
    assert served >= 0.8
    assert served == pytest.approx(recorded, abs=1.01 / len(paths))
    model = next(
        m for m in client.get("/models").json()["models"] if m["name"] == "resnet18-hymenoptera"
    )
    # ...and the one measured in the format it is served in (D2L_DTYPE=auto's evidence).
    numerics = COMMITTED["resnet18-hymenoptera"].info["numerics"]
    assert served == pytest.approx(numerics[model["dtype"]], abs=1.01 / len(paths))
    assert model["classes"] == ["ants", "bees"]
    assert model["metrics"]["val_accuracy"] >= 0.8


CIFAR10_ZIP = DATA / "cifar10" / "cifar10-jpeg.zip"


@needs_data("cifar10/cifar10-jpeg.zip")
@pytest.mark.slow
def test_the_committed_cifar10_model_has_its_recorded_test_accuracy(client):
    """All 5,000 held-out test images, uploaded as the JPEGs they are, through the service in
    batches of 32: the accuracy recorded for the format it is served in, to within two images
    in float32 (the evaluation ran the same files through the same transform)."""
    with zipfile.ZipFile(CIFAR10_ZIP) as archive:
        names = sorted(n for n in archive.namelist() if "/test/" in n and n.endswith(".jpg"))
        uploads = [(Path(n).name, archive.read(n)) for n in names]
    assert len(uploads) == 5000
    labels = []
    for start in range(0, len(uploads), 32):
        files = [("file", (n, data, "image/jpeg")) for n, data in uploads[start : start + 32]]
        response = client.post("/classify/batch?model=resnet18-cifar10&top_k=1", files=files)
        assert response.status_code == 200, response.text
        labels += [r["predictions"][0]["label"] for r in response.json()["results"]]
    truth = [Path(n).parent.name for n in names]
    served = sum(a == b for a, b in zip(labels, truth, strict=True)) / len(names)
    assert served >= 0.90
    model = next(
        m for m in client.get("/models").json()["models"] if m["name"] == "resnet18-cifar10"
    )
    # What `models.evaluate` measured in the served format; bfloat16's last bits depend on the
    # batch's shape (oneDNN picks kernels by it), which moves a few of 5,000 answers.
    numerics = COMMITTED["resnet18-cifar10"].info["numerics"]
    images = 2 if model["dtype"] == "float32" else 5
    assert served == pytest.approx(numerics[model["dtype"]], abs=images / len(names))
    recorded = COMMITTED["resnet18-cifar10"].info["metrics"]["test_accuracy"]
    assert numerics["float32"] == pytest.approx(recorded, abs=2 / len(names))
    assert model["input_size"] == 32 and len(model["classes"]) == 10


def test_decode_workers_sets_the_decode_pool(make_client, colour_manifest):
    client = make_client(
        manifest_path=colour_manifest, default_classify_model="colours", decode_workers=1
    )
    with ThreadPoolExecutor(6) as senders:
        answers = list(senders.map(lambda c: post_image(client, c), [RED, GREEN, BLUE] * 2))
    assert [a.json()["predictions"][0]["label"] for a in answers] == ["red", "green", "blue"] * 2
    pool = client.app.state.images.pool
    assert pool._max_workers == 1 and len(pool._threads) == 1, "one decode thread, as set"

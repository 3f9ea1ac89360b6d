"""/detect on the committed detectors (tinyssd-logo, fasterrcnn-logo): their recorded quality on
the validation split and on real photos, boxes in the upload's pixels, thresholds, bad uploads."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
import torch
from PIL import Image
from torchmetrics.detection import MeanAveragePrecision
from torchvision.ops import box_iou

from models.data.detection_csv import validation_split
from models.manifest import read_manifest
from models.train.photo_eval import LABELLED_PHOTOS as PHOTO_LABELS
from tests.data import DATA, needs_data
from tests.devices import PIXEL_TOLERANCE
from tests.images import noise_image

LOGO = DATA / "sysu-logo"
needs_logo = needs_data("sysu-logo")
COMMITTED = {
    e.name: e for e in read_manifest(Path(__file__).parents[2] / "weights" / "manifest.json")
}


@pytest.fixture
def client(committed_client):
    """One app for the whole module: these requests change no state."""
    return committed_client


def validation_images(count: int) -> list[tuple[Path, list[float]]]:
    with (LOGO / "label.csv").open() as file:
        rows = [r for r in csv.DictReader(file) if validation_split(r["img_name"], 0.1)]
    return [
        (LOGO / "images" / r["img_name"], [float(r[k]) for k in ("xmin", "ymin", "xmax", "ymax")])
        for r in rows[:count]
    ]


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg_start() -> bytes:
    buffer = io.BytesIO()
    noise_image((64, 64), 50).convert("RGB").save(buffer, format="JPEG")
    return buffer.getvalue()[:600]


JPEG_START = jpeg_start()


def upload(data: bytes, name: str = "image.jpg") -> dict:
    return {"file": (name, data, "application/octet-stream")}


# Validation images whose best box finds the logo (IoU > 0.5), as docs/training.md says.
FOUND_OF_82 = {"tinyssd-logo": 81, "fasterrcnn-logo": 82}


@needs_logo
@pytest.mark.slow
@pytest.mark.parametrize("model", FOUND_OF_82)
def test_the_served_model_has_the_quality_training_recorded(client, model):
    """All 82 validation images through /detect, scored as training scored them (torchmetrics
    COCO mAP; score floor 0.01, NMS 0.5, 100 boxes): the recorded mAP@0.5 and mAP@[.5:.95] to
    within 0.01, and the logo found (best box IoU > 0.5) as often as the docs say."""
    found = 0
    images = validation_images(10_000)
    metric = MeanAveragePrecision(box_format="xyxy", iou_type="bbox")
    for path, truth in images:
        response = client.post(
            "/detect",
            files=upload(path.read_bytes(), path.name),
            params={
                "model": model,
                "score_threshold": 0.01,
                "iou_threshold": 0.5,
                "max_detections": 100,
            },
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["model"] == model and body["box_format"] == "xyxy"
        assert body["image"] == {"width": 256, "height": 256}
        best = body["detections"][0]
        assert best["label"] == "logo" and best["class_id"] == 0
        found += box_iou(torch.tensor([best["box"]]), torch.tensor([truth])).item() > 0.5
        scores = [d["score"] for d in body["detections"]]
        assert scores == sorted(scores, reverse=True)
        detections = body["detections"]
        metric.update(
            [
                {
                    "boxes": torch.tensor([d["box"] for d in detections]).reshape(-1, 4),
                    "scores": torch.tensor(scores),
                    "labels": torch.tensor([d["class_id"] for d in detections], dtype=torch.long),
                }
            ],
            [{"boxes": torch.tensor([truth]), "labels": torch.tensor([0])}],
        )
    assert (found, len(images)) == (FOUND_OF_82[model], 82)
    measured = metric.compute()
    recorded = COMMITTED[model].info["metrics"]
    assert float(measured["map_50"]) == pytest.approx(recorded["map_50"], abs=0.01)
    assert float(measured["map"]) == pytest.approx(recorded["map"], abs=0.01)
    # ...and the mAP measured in the format it is served in (D2L_DTYPE=auto's evidence).
    served = next(m for m in client.get("/models").json()["models"] if m["name"] == model)
    numerics = COMMITTED[model].info["numerics"]
    assert float(measured["map"]) == pytest.approx(numerics[served["dtype"]], abs=0.005)


PHOTOS = LOGO / "unlabelled"
NEGATIVES = LOGO.parent / "hymenoptera" / "val"


@needs_data("sysu-logo/unlabelled", "hymenoptera/val")
@pytest.mark.slow
@pytest.mark.parametrize("model", FOUND_OF_82)
def test_on_real_photos_the_service_finds_what_training_recorded(client, model):
    """The 9 real photos through /detect at the default thresholds, against this project's hand
    labels (never trained on): seals found (IoU >= 0.5) by difficulty and false boxes equal the
    figures the manifest records for the served format; so do the boxes on 153 photos without
    the seal."""
    labels = PHOTO_LABELS.read_text().splitlines()[1:]
    seals: dict[str, list[tuple[list[float], str]]] = {}
    for line in labels:
        name, _, *corners, difficulty = line.split(",")
        seals.setdefault(name, []).append(([float(v) for v in corners], difficulty))
    found = {"clear": 0, "hard": 0}
    false_boxes = 0
    for name, wanted in seals.items():
        response = client.post(
            "/detect", files=upload((PHOTOS / name).read_bytes(), name), params={"model": model}
        )
        assert response.status_code == 200, response.text
        boxes = torch.tensor([d["box"] for d in response.json()["detections"]]).reshape(-1, 4)
        truth = torch.tensor([box for box, _ in wanted])
        iou = box_iou(boxes, truth) if len(boxes) else torch.zeros(0, len(truth))
        for index, (_, difficulty) in enumerate(wanted):
            found[difficulty] += int(bool((iou[:, index] >= 0.5).any()))
        false_boxes += int((iou.max(dim=1).values < 0.5).sum()) if len(boxes) else 0
    negative_boxes = 0
    negatives = sorted(
        p for p in NEGATIVES.rglob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png"}
    )
    for path in negatives:
        response = client.post(
            "/detect", files=upload(path.read_bytes(), path.name), params={"model": model}
        )
        assert response.status_code == 200, response.text
        negative_boxes += len(response.json()["detections"])
    # What python -m models.evaluate measured at the served thresholds, in the served format.
    served = next(m for m in client.get("/models").json()["models"] if m["name"] == model)
    recorded = COMMITTED[model].info["numerics"][f"{served['dtype']}_photos"]
    assert recorded["score_threshold"] == served["thresholds"]["score_threshold"]
    assert found["clear"] == recorded["photos_clear_found"]
    assert found["hard"] == recorded["photos_hard_found"]
    assert false_boxes == recorded["photos_false_boxes"]
    assert (len(negatives), negative_boxes) == (
        recorded["negatives_photos"],
        recorded["negatives_false_boxes"],
    )


@needs_data("hymenoptera/val")
def test_a_request_naming_no_threshold_gets_the_model_s_own(client):
    """fasterrcnn-logo's calibrated score threshold (the manifest's, shown in /models) drops the
    boxes it draws on a photo of bees; naming a threshold brings them back, and a threshold
    named over the model's own still applies."""
    listed = {m["name"]: m for m in client.get("/models").json()["models"]}
    calibrated = COMMITTED["fasterrcnn-logo"].info["thresholds"]["score_threshold"]
    assert calibrated > 0.5
    assert listed["fasterrcnn-logo"]["thresholds"] == {
        "score_threshold": calibrated,
        "iou_threshold": 0.5,
        "max_detections": 100,
    }
    tinyssd = COMMITTED["tinyssd-logo"].info["thresholds"]["score_threshold"]
    assert listed["tinyssd-logo"]["thresholds"]["score_threshold"] == tinyssd
    assert listed["resnet18-hymenoptera"]["thresholds"] is None
    bees = upload((NEGATIVES / "bees" / "72100438_73de9f17af.jpg").read_bytes())
    own = client.post("/detect", files=bees, params={"model": "fasterrcnn-logo"})
    assert own.status_code == 200, own.text
    assert own.json()["detections"] == []
    named = client.post(
        "/detect", files=bees, params={"model": "fasterrcnn-logo", "score_threshold": 0.5}
    ).json()["detections"]
    assert len(named) >= 2 and all(0.5 < d["score"] <= calibrated for d in named)
    one = client.post(
        "/detect",
        files=bees,
        params={"model": "fasterrcnn-logo", "score_threshold": 0.5, "max_detections": 1},
    ).json()["detections"]
    assert len(one) == 1 and one[0]["score"] == pytest.approx(named[0]["score"], abs=1e-3)


@needs_logo
def test_boxes_are_in_the_pixels_of_the_upload(client):
    path, _ = validation_images(1)[0]
    low = {"score_threshold": 0.05}
    small = client.post("/detect", files=upload(path.read_bytes()), params=low).json()
    small = small["detections"][0]
    bigger = Image.open(path).resize((768, 512))
    large = client.post("/detect", files=upload(png(bigger), "big.png"), params=low).json()
    box = large["detections"][0]["box"]
    assert large["image"] == {"width": 768, "height": 512}
    expected = [small["box"][0] * 3, small["box"][1] * 2, small["box"][2] * 3, small["box"][3] * 2]
    assert box == pytest.approx(expected, abs=12)
    assert 0 <= box[0] <= box[2] <= 768 and 0 <= box[1] <= box[3] <= 512


@needs_logo
def test_boxes_on_a_rotated_upload_are_where_a_viewer_sees_the_object(client):
    path, _ = validation_images(1)[0]
    upright = Image.open(path).convert("RGB").resize((384, 256))
    low = {"score_threshold": 0.05}
    seen = client.post("/detect", files=upload(png(upright)), params=low).json()
    # Stored turned a quarter to the left, with EXIF orientation 6 ("turn right to view"),
    # as phones save photos: viewers, and the boxes, see the upright image.
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    upright.transpose(Image.Transpose.ROTATE_90).save(
        buffer, format="JPEG", quality=95, exif=exif.tobytes()
    )
    rotated = client.post("/detect", files=upload(buffer.getvalue(), "phone.jpg"), params=low)
    assert rotated.json()["image"] == {"width": 384, "height": 256}
    box = rotated.json()["detections"][0]["box"]
    assert box == pytest.approx(seen["detections"][0]["box"], abs=8)


@needs_logo
def test_render_answers_the_annotated_png_at_the_uploaded_size(client):
    path, _ = validation_images(1)[0]
    params = {"render": "true", "score_threshold": 0.05}
    response = client.post("/detect", files=upload(path.read_bytes()), params=params)
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    drawn = Image.open(io.BytesIO(response.content))
    assert drawn.size == (256, 256)
    original = Image.open(path).convert("RGB")
    assert drawn.convert("RGB").tobytes() != original.tobytes()


@needs_logo
def test_batch_answers_in_upload_order_as_one_by_one(client):
    paths = [path for path, _ in validation_images(3)]
    files = [("file", (p.name, p.read_bytes(), "image/jpeg")) for p in paths]
    # The best ten: far down the list, near-equal scores may swap with the batch's arithmetic.
    low = {"score_threshold": 0.05, "max_detections": 10}
    results = client.post("/detect/batch", files=files, params=low).json()["results"]
    assert len(results) == 3 and all(result["detections"] for result in results)
    for path, result in zip(paths, results, strict=True):
        alone = client.post("/detect", files=upload(path.read_bytes()), params=low).json()
        together = [value for d in result["detections"] for value in d["box"]]
        one_by_one = [value for d in alone["detections"] for value in d["box"]]
        assert together == pytest.approx(one_by_one, abs=PIXEL_TOLERANCE)


def test_thresholds_and_caps(client):
    image = png(Image.new("RGB", (64, 64), "white"))
    everything = client.post(
        "/detect", files=upload(image), params={"score_threshold": 0, "max_detections": 7}
    )
    assert len(everything.json()["detections"]) == 7
    for params in ({"score_threshold": 1.5}, {"iou_threshold": -0.1}, {"max_detections": 0}):
        response = client.post("/detect", files=upload(image), params=params)
        assert response.status_code == 422, params


@pytest.mark.parametrize(
    ("data", "status", "text"),
    [
        (b"", 422, "the file is empty"),
        (JPEG_START, 422, "truncated or corrupt"),
        (b"plain text", 422, "not an image"),
        (
            png(Image.new("1", (8_000, 8_000))),
            413,
            "64,000,000 pixels, over the limit of 40,000,000",
        ),
    ],
)
def test_bad_uploads_are_clear_4xx(client, data, status, text):
    response = client.post("/detect", files=upload(data, "upload.bin"))
    assert response.status_code == status
    answer = response.json()
    assert text in answer["detail"] and "upload.bin" in answer["detail"]  # always a sentence
    if status == 422:  # and each invalid part in errors
        assert answer["errors"][0]["loc"] == ["body", "file"]
        assert text in answer["errors"][0]["msg"]


def test_missing_file_and_unknown_model(client):
    missing = client.post("/detect")
    assert missing.status_code == 422 and missing.json()["errors"][0]["loc"] == ["body", "file"]
    unknown = client.post(
        "/detect", files=upload(png(Image.new("RGB", (8, 8)))), params={"model": "yolo"}
    )
    assert unknown.status_code == 404
    assert "detect models: fasterrcnn-logo, maskrcnn-logo, tinyssd-logo" in unknown.json()["detail"]


def test_limits_on_batches_and_bodies(make_client):
    client = make_client(max_batch_images=2, max_body_bytes=200_000)
    image = png(Image.new("RGB", (16, 16)))
    files = [("file", (f"{i}.png", image, "image/png")) for i in range(3)]
    too_many = client.post("/detect/batch", files=files)
    assert too_many.status_code == 413 and "over the limit of 2" in too_many.json()["detail"]
    big = client.post("/detect", files=upload(b"\xff" * 300_000))
    assert big.status_code == 413 and "larger than the limit" in big.json()["detail"]


@pytest.mark.parametrize("model", ["tinyssd-logo", "fasterrcnn-logo"])
def test_models_shows_false_boxes_per_100_seal_free_photos_measured_at_the_served_threshold(
    client, model
):
    """The manifest's false-alarm figures (python -m bench.false_alarms --write) reach /models
    as metrics, and were measured at the score threshold the model now serves with."""
    card = COMMITTED[model].card
    sets = card.false_alarms["sets"]
    assert {"heldout-backgrounds", "ants-bees-val", "distractor-composites"} <= set(sets)
    listed = {m["name"]: m for m in client.get("/models").json()["models"]}[model]
    for name, figures in sets.items():
        key = f"false_per_100_{name.replace('-', '_')}"
        assert listed["metrics"][key] == figures["false_boxes_per_100"]
    measured_at = card.false_alarms["thresholds"]["score_threshold"]
    assert measured_at == listed["thresholds"]["score_threshold"]

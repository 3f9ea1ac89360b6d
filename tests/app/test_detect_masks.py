"""/detect with the committed Mask R-CNN (maskrcnn-logo): masks as polygons, COCO RLE or none,
in the upload's upright pixels; the same boxes as the Faster R-CNN it was built on; masks that
match the hand-drawn outlines of the real photos and the synthetic validation masks."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from pycocotools import mask as coco_mask
from torchmetrics.detection import MeanAveragePrecision

from models.data.detection_csv import read_detection_csv, validation_split
from models.data.synthesize import SynthesisConfig, synthesize
from models.manifest import read_manifest
from models.ops.masks import polygons_to_mask, rle_to_mask
from models.train.photo_eval import LABELLED_PHOTOS, read_outlines
from tests.data import DATA, needs_data

LOGO = DATA / "sysu-logo"
PHOTO = LOGO / "unlabelled" / "1.jpg"
needs_photos = needs_data("sysu-logo/unlabelled")
MODEL = "maskrcnn-logo"
COMMITTED = {
    e.name: e for e in read_manifest(Path(__file__).parents[2] / "weights" / "manifest.json")
}


@pytest.fixture
def client(committed_client):
    return committed_client


def detect(client, data: bytes, **params) -> dict:
    response = client.post(
        "/detect",
        files={"file": ("photo.jpg", data, "image/jpeg")},
        params={"model": MODEL, **params},
    )
    assert response.status_code == 200, response.text
    return response.json()


def pixels(image: Image.Image) -> torch.Tensor:
    """[H * W, 3] int32 RGB values."""
    return torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.int32).reshape(-1, 3))


def iou(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a & b).sum()) / max(1.0, float((a | b).sum()))


def test_models_says_which_detectors_have_masks(client):
    listed = {m["name"]: m for m in client.get("/models").json()["models"]}
    assert listed[MODEL]["masks"] is True and listed[MODEL]["architecture"] == "maskrcnn"
    assert listed["fasterrcnn-logo"]["masks"] is False and listed["tinyssd-logo"]["masks"] is False
    assert listed["resnet18-hymenoptera"]["masks"] is None


@needs_photos
def test_polygons_and_rle_decode_to_the_same_mask_inside_the_box(client):
    data = PHOTO.read_bytes()
    with_polygons = detect(client, data)
    with_rle = detect(client, data, mask_format="rle")
    size = (with_polygons["image"]["width"], with_polygons["image"]["height"])
    assert [d["box"] for d in with_polygons["detections"]] == [
        d["box"] for d in with_rle["detections"]
    ]
    assert with_polygons["detections"], "the seal of 1.jpg is found"
    for polygon_answer, rle_answer in zip(
        with_polygons["detections"], with_rle["detections"], strict=True
    ):
        polygons = polygon_answer["mask"]["polygons"]
        assert polygons and all(6 <= len(p) <= 128 and len(p) % 2 == 0 for p in polygons)
        rle = rle_answer["mask"]
        assert rle["size"] == [size[1], size[0]] and isinstance(rle["counts"], str)
        # COCO's own decoder reads it
        decoded = coco_mask.decode({"size": rle["size"], "counts": rle["counts"].encode()})
        from_rle = torch.from_numpy(decoded.astype(bool))
        assert torch.equal(from_rle, rle_to_mask(rle))
        assert iou(polygons_to_mask(polygons, size), from_rle) >= 0.95
        rows, cols = torch.nonzero(from_rle, as_tuple=True)
        x1, y1, x2, y2 = polygon_answer["box"]
        assert cols.min() >= int(x1) and cols.max() <= x2 and rows.min() >= int(y1)
        assert rows.max() <= y2


@needs_photos
def test_no_mask_is_computed_or_sent_when_asked_for_none_and_other_detectors_ignore_it(client):
    data = PHOTO.read_bytes()
    plain = detect(client, data, mask_format="none")
    assert plain["detections"] and all("mask" not in d for d in plain["detections"])
    # masks cost nothing of the boxes: the same with or without them
    masked = detect(client, data, mask_format="polygons")
    assert [d["box"] for d in plain["detections"]] == [d["box"] for d in masked["detections"]]
    assert all("mask" in d for d in masked["detections"])
    faster = detect(client, data, model="fasterrcnn-logo", mask_format="rle")
    assert faster["detections"] and all("mask" not in d for d in faster["detections"])


@needs_photos
def test_masks_follow_exif_orientation_and_the_batch_carries_them(client):
    upright = Image.open(PHOTO).convert("RGB")
    buffer = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # the viewer turns it 90 degrees clockwise
    upright.transpose(Image.Transpose.ROTATE_90).save(buffer, "JPEG", quality=95, exif=exif)
    turned = detect(client, buffer.getvalue(), mask_format="rle")
    plain = detect(client, PHOTO.read_bytes(), mask_format="rle")
    assert turned["image"] == plain["image"]
    assert (
        iou(
            rle_to_mask(turned["detections"][0]["mask"]),
            rle_to_mask(plain["detections"][0]["mask"]),
        )
        > 0.9
    )
    batch = client.post(
        "/detect/batch",
        files=[("file", ("a.jpg", PHOTO.read_bytes(), "image/jpeg"))] * 2,
        params={"model": MODEL, "mask_format": "rle"},
    )
    assert batch.status_code == 200, batch.text
    results = batch.json()["results"]
    assert [r["detections"] for r in results] == [plain["detections"]] * 2


@needs_photos
def test_render_fills_the_mask_translucently(client):
    response = client.post(
        "/detect/render",
        files={"file": ("photo.jpg", PHOTO.read_bytes(), "image/jpeg")},
        params={"model": MODEL},
    )
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    drawn = pixels(Image.open(io.BytesIO(response.content)))
    original = pixels(Image.open(PHOTO))
    mask = rle_to_mask(
        detect(client, PHOTO.read_bytes(), mask_format="rle")["detections"][0]["mask"]
    )
    inside = mask.flatten()
    # red over it: its red rises against its green (white and green ink alike)
    shift = (drawn[:, 0] - drawn[:, 1]).float() - (original[:, 0] - original[:, 1]).float()
    redder = shift > 20
    assert float(redder[inside].float().mean()) > 0.9  # filled where the mask is
    # away from the mask and its box's outline, the photo is untouched
    assert float(redder[~inside].float().mean()) < 0.1


@needs_data("sysu-logo/unlabelled")
@pytest.mark.slow
def test_masks_of_the_real_photos_match_their_hand_drawn_outlines(client):
    """7 of the 8 clear seals found, each found one's mask over its drawn disc with IoU >=
    0.75 (the outlines: ellipses fitted by eye, never trained on), as models.evaluate
    recorded."""
    outlines = read_outlines(LABELLED_PHOTOS)
    good, found = 0, 0
    for name, drawn in sorted(outlines.items()):
        answer = detect(client, (LOGO / "unlabelled" / name).read_bytes(), mask_format="rle")
        size = (answer["image"]["width"], answer["image"]["height"])
        target = polygons_to_mask(drawn, size)
        best = max((iou(rle_to_mask(d["mask"]), target) for d in answer["detections"]), default=0.0)
        found += best > 0
        good += best >= 0.75
    assert len(outlines) == 8 and found >= 7
    assert good >= 7
    served = next(m for m in client.get("/models").json()["models"] if m["name"] == MODEL)
    recorded = COMMITTED[MODEL].info["numerics"][f"{served['dtype']}_photos"]
    assert good == recorded["photos_masks_good"]


@needs_data("sysu-logo/target", "sysu-logo/background")
@pytest.mark.slow
def test_masks_on_the_synthetic_validation_split_are_as_good_as_their_boxes(client, tmp_path):
    """The validation images of the set the mask branch trained on, drawn again here (each is a
    function of its seed and index), through /detect: mask AP@0.5 within 0.03 of box AP@0.5
    (the boxes, which miss seals of a few pixels, are what limits it: 0.72 and 0.72 on the
    whole split, docs/training.md)."""
    config = SynthesisConfig(distractors=3)
    wanted = [i for i in range(2000) if validation_split(f"{i:06d}.jpg", 0.1)][:60]
    synthesize(
        LOGO / "target", [LOGO / "background"], tmp_path / "val", 2000, seed=35, config=config,
        background_split=(0.2, False), only=wanted,
    )  # fmt: skip
    samples = read_detection_csv(tmp_path / "val", 320, with_masks=True)
    metric = MeanAveragePrecision(iou_type=("bbox", "segm"))
    for sample in samples:
        buffer = io.BytesIO()
        Image.fromarray(sample.image.permute(1, 2, 0).numpy()).save(buffer, "PNG")
        answer = detect(
            client, buffer.getvalue(), mask_format="rle", score_threshold=0.01, max_detections=100
        )
        found = answer["detections"]
        masks = [rle_to_mask(d["mask"]) for d in found]
        metric.update(
            [
                {
                    "boxes": torch.tensor([d["box"] for d in found]).reshape(-1, 4),
                    "scores": torch.tensor([d["score"] for d in found]),
                    "labels": torch.zeros(len(found), dtype=torch.long),
                    "masks": torch.stack(masks)
                    if masks
                    else torch.zeros(0, 320, 320, dtype=torch.bool),
                }
            ],
            [{"boxes": sample.boxes * 320, "labels": sample.labels, "masks": sample.masks.bool()}],
        )
    scores = metric.compute()
    masks, boxes = float(scores["segm_map_50"]), float(scores["bbox_map_50"])
    assert masks >= boxes - 0.03 and masks >= 0.6, (masks, boxes)

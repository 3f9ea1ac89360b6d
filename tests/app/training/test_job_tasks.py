"""A detection job and a word2vec job through the API, from upload to a served model, and a
detector fine-tuned to a set with other classes than its base (the class layers anew)."""

from __future__ import annotations

import io
import random

import torch
from PIL import Image, ImageDraw

from models.train.config import DetectConfig
from models.train.detect_model import build_detector
from tests.app.training.conftest import (
    ADMIN,
    served,
    upload,
    wait_for,
    wait_until_served,
    zip_members,
)


def shapes_set(count: int = 16) -> bytes:
    """Squares and discs on noise, in d2l's CSV layout with class names."""
    rng = random.Random(0)
    members, rows = {}, ["img_name,label,xmin,ymin,xmax,ymax"]
    for index in range(count):
        image = Image.effect_noise((96, 96), 40).convert("RGB")
        draw = ImageDraw.Draw(image)
        side = rng.randrange(24, 48)
        x, y = rng.randrange(0, 96 - side), rng.randrange(0, 96 - side)
        kind = ("square", "disc")[index % 2]
        shape = draw.rectangle if kind == "square" else draw.ellipse
        shape((x, y, x + side - 1, y + side - 1), fill=(230, 200, 40))
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        members[f"images/{index:03d}.png"] = buffer.getvalue()
        rows.append(f"{index:03d}.png,{kind},{x},{y},{x + side},{y + side}")
    members["label.csv"] = ("\n".join(rows) + "\n").encode()
    return zip_members(members)


def test_a_detection_job_serves_a_detector_of_the_sets_classes(trainer_client):
    client = trainer_client
    dataset = upload(client, shapes_set(), "detect", "shapes").json()
    assert dataset["summary"]["classes"] == ["disc", "square"]
    body = {"dataset": dataset["id"], "model_name": "shapes", "base_model": None, "epochs": 1,
            "batch_size": 4, "input_size": 64, "lr": 0.05, "val_fraction": 0.25}  # fmt: skip
    job = client.post("/training-jobs", json=body, headers=ADMIN).json()
    (client.gate / job["id"]).touch()
    done = wait_for(client, job["id"], {"succeeded", "failed"})
    assert done["state"] == "succeeded", done["error"]
    evaluation = done["evaluation"]
    assert {"map_50", "map", "per_class", "false_boxes_per_100_images"} <= set(evaluation)
    assert evaluation["images"] >= 1 and 0 <= evaluation["map_50"] <= 1
    wait_until_served(client, "shapes@1")
    image = io.BytesIO()
    Image.new("RGB", (96, 96), (20, 20, 20)).save(image, "PNG")
    answer = client.post(
        "/detect", params={"model": "shapes"}, files={"file": ("x.png", image.getvalue())}
    )
    assert answer.status_code == 200 and answer.json()["model"] == "shapes@1"
    assert served(client, "shapes@1")["classes"] == ["disc", "square"]


def test_a_word2vec_job_answers_similar(trainer_client):
    client = trainer_client
    rng = random.Random(0)
    words = ["chip", "intel", "cpu", "bread", "butter", "jam", "river", "boat", "water"]
    lines = [" ".join(rng.choice(words[g * 3 : g * 3 + 3]) for _ in range(8))
             for g in (rng.randrange(3) for _ in range(400))]  # fmt: skip
    answer = client.post(
        "/datasets", params={"task": "word2vec", "name": "topics"},
        files={"file": ("t.txt", "\n".join(lines).encode(), "text/plain")}, headers=ADMIN,
    )  # fmt: skip
    assert answer.status_code == 201, answer.text
    body = {"dataset": answer.json()["id"], "model_name": "topics", "epochs": 2,
            "min_count": 1, "arch": "cbow"}  # fmt: skip
    job = client.post("/training-jobs", json=body, headers=ADMIN).json()
    assert job["base_model"] is None  # word2vec starts from scratch
    (client.gate / job["id"]).touch()
    done = wait_for(client, job["id"], {"succeeded", "failed"})
    assert done["state"] == "succeeded", done["error"]
    assert done["evaluation"]["vocabulary"] == 9
    wait_until_served(client, "topics@1")
    similar = client.get("/similar", params={"word": "chip", "k": 2, "model": "topics"})
    assert similar.status_code == 200, similar.text
    assert similar.json()["model"] == "topics@1"


def test_a_detector_fine_tuned_to_other_classes_keeps_all_but_its_class_layers(tmp_path):
    torch.manual_seed(0)
    base = build_detector(DetectConfig(arch="fasterrcnn", backbone="resnet18"), 1)
    path = tmp_path / "base.pt"
    torch.save({"model": base.state_dict(), "arch": "fasterrcnn"}, path)
    tuned = build_detector(
        DetectConfig(arch="fasterrcnn", backbone="resnet18", init=path), 3
    ).state_dict()
    kept = base.state_dict()
    renewed = {k for k in kept if not torch.equal(kept[k], tuned[k])}
    assert renewed == {
        "roi_heads.box_predictor.cls_score.weight", "roi_heads.box_predictor.cls_score.bias",
        "roi_heads.box_predictor.bbox_pred.weight", "roi_heads.box_predictor.bbox_pred.bias",
    }  # fmt: skip
    assert tuned["roi_heads.box_predictor.cls_score.weight"].shape[0] == 4

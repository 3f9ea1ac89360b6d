"""Start-up choices: strictness about failed models, and the compute dtype."""

from __future__ import annotations

import pytest
import torch
from fastapi.testclient import TestClient

from app.core.config import Settings
from app.main import StartupError, create_app
from app.serving.intake import ImageLimits, decode_image
from app.serving.tasks.classify import ClassifyTask
from models.device import DTYPES, resolve_dtype
from models.errors import InvalidInputError
from models.vision.classifier import ImageClassifier
from tests.app.test_batching import post_image
from tests.images import BLUE, GREEN, RED, colour_image, encoded


def test_strict_mode_stops_the_start_when_a_model_fails(write_manifest, colour_weights):
    manifest = write_manifest(
        [
            {"name": "good", "task": "classify", "file": colour_weights.name, "sha256": "0"},
            {"name": "odd", "task": "segment", "file": "absent.pt", "sha256": "00"},
        ]
    )
    app = create_app(Settings(manifest_path=manifest, strict=True))
    with pytest.raises(StartupError) as stopped, TestClient(app):
        pass
    message = str(stopped.value)
    assert "D2L_STRICT=1" in message
    assert "good: " in message and "does not match the manifest" in message
    assert "odd: no served task for the task 'segment'" in message


def test_strict_mode_starts_ready_when_every_model_loads(make_client, colour_manifest):
    client = make_client(manifest_path=colour_manifest, strict=True)
    assert client.get("/health/ready").status_code == 200


def test_bfloat16_is_what_the_model_computes_in_and_keeps_its_classes(
    make_client, colour_manifest, colour_weights
):
    scores, labels = {}, {}
    for dtype in ("float32", "bfloat16"):
        client = make_client(
            manifest_path=colour_manifest, default_classify_model="colours", dtype=dtype
        )
        (model,) = client.get("/models").json()["models"]
        assert model["dtype"] == dtype
        served = client.app.state.registry.get("colours", ClassifyTask).task.classifier
        weights = {parameter.dtype for parameter in served.model.parameters()}
        assert weights == {DTYPES[dtype]}, "the weights themselves are in that type"
        answers = [
            post_image(client, colour, seed=3, query="?top_k=3").json()["predictions"]
            for colour in (RED, GREEN, BLUE)
        ]
        labels[dtype] = [answer[0]["label"] for answer in answers]
        scores[dtype] = [p["score"] for answer in answers for p in answer]
    assert labels["float32"] == labels["bfloat16"] == ["red", "green", "blue"]
    assert scores["float32"] != scores["bfloat16"], "bfloat16 arithmetic shows in the scores"
    # The same model computed in bfloat16 in this process gives the served scores.
    in_process = ImageClassifier.load(colour_weights, torch.device("cpu"), torch.bfloat16)
    expected = [
        p.score
        for colour in (RED, GREEN, BLUE)
        for p in in_process.classify(
            [decode_image(encoded(colour_image(colour, seed=3)), ImageLimits()).image], top_k=3
        )[0]
    ]
    assert scores["bfloat16"] == pytest.approx(expected, abs=1e-6)


def test_dtype_names_are_checked_against_the_device():
    assert resolve_dtype("auto", torch.device("cpu")) is torch.float32
    assert resolve_dtype("auto", torch.device("cuda", 0)) is torch.float32
    assert resolve_dtype("float16", torch.device("cuda", 0)) is torch.float16
    assert resolve_dtype("bfloat16", torch.device("cpu")) is torch.bfloat16
    with pytest.raises(InvalidInputError, match="float16 is for GPUs"):
        resolve_dtype("float16", torch.device("cpu"))
    with pytest.raises(InvalidInputError, match="'int4' is not one of"):
        resolve_dtype("int4", torch.device("cpu"))

"""Start-up choices: strictness about failed models, and the compute dtype."""

from __future__ import annotations

import pytest
import torch
from fastapi.testclient import TestClient

from app.main import StartupError, create_app
from app.settings import Settings
from models.device import resolve_dtype
from models.errors import InvalidInputError
from tests.app.test_batching import post_image
from tests.images import BLUE, GREEN, RED


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
    assert "odd: no loader for task 'segment'" in message


def test_strict_mode_starts_ready_when_every_model_loads(make_client, colour_manifest):
    client = make_client(manifest_path=colour_manifest, strict=True)
    assert client.get("/health/ready").status_code == 200


def test_bfloat16_serves_the_same_classes_as_float32(make_client, colour_manifest):
    answers = {}
    for dtype in ("float32", "bfloat16"):
        client = make_client(
            manifest_path=colour_manifest, default_classify_model="colours", dtype=dtype
        )
        (model,) = client.get("/models").json()["models"]
        assert model["dtype"] == dtype
        answers[dtype] = [
            post_image(client, colour, seed=3).json()["predictions"][0]["label"]
            for colour in (RED, GREEN, BLUE)
        ]
    assert answers["float32"] == answers["bfloat16"] == ["red", "green", "blue"]


def test_dtype_auto_is_half_on_a_gpu_and_float32_on_the_cpu():
    assert resolve_dtype("auto", torch.device("cpu")) is torch.float32
    assert resolve_dtype("auto", torch.device("cuda", 0)) is torch.float16
    assert resolve_dtype("bfloat16", torch.device("cpu")) is torch.bfloat16
    with pytest.raises(InvalidInputError, match="float16 is for GPUs"):
        resolve_dtype("float16", torch.device("cpu"))
    with pytest.raises(InvalidInputError, match="'int4' is not one of"):
        resolve_dtype("int4", torch.device("cpu"))

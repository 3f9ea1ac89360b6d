from __future__ import annotations

import asyncio
import hashlib
import threading
from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient

from app.core.config import REPO_ROOT, Settings
from app.main import create_app
from app.serving.registry import ModelRegistry
from app.serving.served import ModelState
from app.serving.tasks.base import Placement, ServedTask
from app.serving.tasks.catalog import TASKS
from app.serving.tasks.classify import ClassifyTask
from models.errors import InvalidInputError
from models.manifest import ManifestError, read_manifest, sha256_of
from tests.app.test_batching import post_image
from tests.devices import SERVING_DEVICE_NAME, entry_dtype
from tests.images import RED


def test_live_and_ready_on_the_committed_manifest(client):
    assert client.get("/health/live").json() == {"status": "ok"}
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert ready.json()["device"] == SERVING_DEVICE_NAME
    listed = client.get("/models").json()["models"]
    status_keys = ("name", "task", "state", "reason")
    assert [{k: m[k] for k in status_keys} for m in listed] == ready.json()["models"]
    manifest = read_manifest(REPO_ROOT / "weights" / "manifest.json")
    committed = {entry.name: entry for entry in manifest}
    for model in listed:
        assert model["device"] == ready.json()["device"]
        assert len(model["sha256"]) == 64
        assert model["dtype"] == entry_dtype(committed[model["name"]])
        assert model["architecture"]


def test_a_model_that_cannot_load_makes_ready_503_with_the_reason(make_client, write_manifest):
    manifest = write_manifest(
        [{"name": "unet-x", "task": "segment", "file": "absent.pt", "sha256": "00"}]
    )
    client = make_client(manifest_path=manifest)
    ready = client.get("/health/ready")
    assert ready.status_code == 503
    (model,) = ready.json()["models"]
    assert model["name"] == "unet-x"
    assert model["state"] == "failed"
    assert "no served task for the task 'segment'" in model["reason"]
    (listed,) = client.get("/models").json()["models"]
    assert {k: listed[k] for k in model} == model
    assert listed["dtype"] is None
    assert client.get("/health/live").status_code == 200


def test_a_bad_device_or_manifest_stops_the_start_with_the_reason(tmp_path: Path):
    bad_device = TestClient(create_app(Settings(device="tpu")))
    with pytest.raises(InvalidInputError, match="use auto, cpu, cuda or cuda:N"), bad_device:
        pass
    no_manifest = TestClient(create_app(Settings(manifest_path=tmp_path / "absent.json")))
    with pytest.raises(ManifestError, match="D2L_MANIFEST_PATH"), no_manifest:
        pass


def test_the_app_serves_models_through_the_tasks_it_is_given(tmp_path, write_manifest):
    path, digest = _checkpoint(tmp_path)
    manifest = write_manifest(
        [{"name": "m", "task": "tensor", "file": path.name, "sha256": digest}]
    )
    with TestClient(create_app(Settings(manifest_path=manifest), {"tensor": TensorTask})) as client:
        assert client.app.state.registry.loaded.wait(timeout=600)
        ready = client.get("/health/ready")
        assert ready.status_code == 200
        assert ready.json()["models"] == [
            {"name": "m", "task": "tensor", "state": "ready", "reason": None}
        ]


def _checkpoint(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "tiny.pt"
    torch.save({"weight": torch.arange(4.0)}, path)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


class TensorTask(ServedTask[None, None]):
    """A task kind of this test's own: a checkpoint of plain tensors, nothing to run."""

    kind = "tensor"
    title = "tensor"
    batched = False

    def __init__(self, tensors: dict[str, torch.Tensor]) -> None:
        self.tensors = tensors

    @classmethod
    def load(cls, entry, placement: Placement) -> TensorTask:
        return cls(torch.load(entry.file, map_location=placement.device, weights_only=True))


def test_registry_loads_verified_checkpoints_and_reports_bad_ones(tmp_path: Path, write_manifest):
    path, digest = _checkpoint(tmp_path)
    manifest = write_manifest(
        [
            {"name": "good", "task": "tensor", "file": path.name, "sha256": digest},
            {"name": "tampered", "task": "tensor", "file": path.name, "sha256": "0" * 64},
        ]
    )
    registry = ModelRegistry(manifest, Placement(torch.device("cpu")), {"tensor": TensorTask})
    assert not registry.ready, "not ready before loading has run"
    asyncio.run(registry.load_all())
    good, tampered = registry.models
    assert good.state is ModelState.READY
    assert good.task.tensors["weight"].tolist() == [0, 1, 2, 3]
    assert tampered.state is ModelState.FAILED
    assert "does not match the manifest" in tampered.reason
    assert not registry.ready


def test_while_a_model_loads_live_is_200_ready_is_503_and_its_requests_retry_later(
    write_manifest, colour_weights
):
    gate = threading.Event()

    class SlowClassify(ClassifyTask):  # loads once the test opens the gate
        @classmethod
        def load(cls, entry, placement):
            gate.wait(600)
            return super().load(entry, placement)

    manifest = write_manifest(
        [
            {
                "name": "colours",
                "task": "classify",
                "file": colour_weights.name,
                "sha256": sha256_of(colour_weights),
            }
        ]
    )
    settings = Settings(manifest_path=manifest, default_classify_model="colours")
    app = create_app(settings, {**TASKS, "classify": SlowClassify})
    with TestClient(app) as client:
        try:
            assert client.get("/health/live").json() == {"status": "ok"}
            ready = client.get("/health/ready")
            assert ready.status_code == 503
            assert ready.json()["status"] == "not_ready"
            assert ready.json()["models"][0]["state"] == "loading"
            early = post_image(client, RED)
            assert early.status_code == 503
            assert early.headers["Retry-After"] == "5"
            assert "still loading" in early.json()["detail"]
        finally:
            gate.set()
        assert app.state.registry.loaded.wait(timeout=600)
        assert client.get("/health/ready").status_code == 200
        assert post_image(client, RED).json()["predictions"][0]["label"] == "red"

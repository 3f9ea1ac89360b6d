"""What the service agrees to load: checkpoints inside the weights folder, regular files under a
size limit, loaded in time, with finite weights; failures are reported in one short clean line
(the open /health/ready shows it), never as a library's message."""

from __future__ import annotations

import os
import threading

import torch

from app.serving.tasks.catalog import TASKS
from app.serving.tasks.classify import ClassifyTask
from models.manifest import sha256_of
from models.vision.classifier import load_classifier_file, save_classifier


def reasons(client) -> dict[str, str | None]:
    ready = client.get("/health/ready")
    return {model["name"]: model["reason"] for model in ready.json()["models"]}


def entry(name: str, path, sha256: str | None = None, task: str = "classify") -> dict:
    return {"name": name, "task": task, "file": str(path), "sha256": sha256 or "0" * 64}


def test_files_outside_the_weights_folder_devices_and_pipes_are_refused_unread(
    make_client, write_manifest, tmp_path
):
    pipe = tmp_path / "pipe.pt"
    os.mkfifo(pipe)  # opening it for reading would wait for a writer forever
    linked = tmp_path / "linked.pt"
    linked.symlink_to("/etc/hostname")
    manifest = write_manifest(
        [
            entry("passwd", "../" * 30 + "etc/passwd"),
            entry("linked", linked.name),
            entry("pipe", pipe.name),
            entry("absent", "absent.pt"),
        ]
    )
    client = make_client(manifest_path=manifest)
    found = reasons(client)
    assert "outside the weights folder" in found["passwd"]
    assert "outside the weights folder" in found["linked"], "links are followed, then checked"
    assert found["pipe"] == "the weights file pipe.pt is not a regular file"
    assert found["absent"] == "the weights file absent.pt does not exist"
    devices = make_client(manifest_path=write_manifest([entry("zero", "/dev/zero")]))
    assert "outside the weights folder" in reasons(devices)["zero"]
    rooted = make_client(
        manifest_path=write_manifest([entry("zero", "/dev/zero")]), weights_root="/dev"
    )
    assert reasons(rooted)["zero"] == "the weights file zero is not a regular file"


def test_a_checkpoint_over_the_size_limit_is_refused_before_it_is_read(
    make_client, colour_manifest
):
    client = make_client(manifest_path=colour_manifest, max_weights_bytes=1000)
    reason = reasons(client)["colours"]
    assert "over the limit of 1,000" in reason
    assert "D2L_MAX_WEIGHTS_BYTES" in reason


def test_a_pickled_object_is_refused_with_a_short_clean_reason(
    make_client, write_manifest, tmp_path
):
    malicious = tmp_path / "evil.pt"
    torch.save({"model": {}, "payload": os.system}, malicious)  # needs an unsafe load
    manifest = write_manifest([entry("evil", malicious.name, sha256_of(malicious), "detect")])
    client = make_client(manifest_path=manifest)
    reason = reasons(client)["evil"]
    assert reason.startswith("the checkpoint holds Python objects")
    assert "weights_only=False" not in reason
    assert "\x1b" not in reason and "\n" not in reason and len(reason) <= 160
    refused = client.post("/detect?model=evil", files={"file": ("a.png", b"1", "image/png")})
    assert refused.status_code == 503
    assert reason in refused.json()["detail"]


def test_a_checkpoint_with_nan_weights_fails_to_load(
    make_client, write_manifest, colour_classifier, tmp_path
):
    model, card = load_classifier_file(colour_classifier)
    with torch.no_grad():
        model.fc.weight[0, 0] = float("nan")
    broken = tmp_path / "nan.safetensors"
    save_classifier(broken, model, card)
    manifest = write_manifest([entry("nan", broken.name, sha256_of(broken))])
    client = make_client(manifest_path=manifest, default_classify_model="nan")
    reason = reasons(client)["nan"]
    assert reason.startswith("the weight tensor fc.weight holds NaN or infinite values")
    assert client.post("/classify", files={"file": ("a.png", b"1", "image/png")}).status_code == 503


def test_a_load_that_does_not_finish_in_time_fails(make_client, write_manifest, colour_weights):
    gate = threading.Event()

    class Stuck(ClassifyTask):  # a hung file system or driver: returns only once released
        kind = "stuck"

        @classmethod
        def load(cls, entry, placement):
            gate.wait(600)
            raise RuntimeError("released")

    manifest = write_manifest(
        [entry("stuck", colour_weights.name, sha256_of(colour_weights), "stuck")]
    )
    client = make_client(
        manifest_path=manifest, load_timeout_s=0.5, tasks={**TASKS, "stuck": Stuck}
    )
    try:
        assert reasons(client)["stuck"] == (
            "loading did not finish within 0.5 s (D2L_LOAD_TIMEOUT_S)"
        )
        assert client.get("/health/ready").status_code == 503
    finally:
        gate.set()

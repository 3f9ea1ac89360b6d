"""``POST /models/{name}/reload``: a new checkpoint is loaded next to the old one and swapped in;
requests already queued finish on the old one; a bad checkpoint leaves the old one serving."""

from __future__ import annotations

import dataclasses
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from app.serving.loaders import RUNNERS, classify_runner
from models.manifest import sha256_of
from models.vision.classifier import load_classifier_file, save_classifier
from tests.app.test_batching import post_image, wait_until
from tests.images import GREEN, RED


def shouting_copy(source: Path, target: Path) -> Path:
    """The same weights with upper-case class names: a new checkpoint that answers visibly
    differently."""
    model, card = load_classifier_file(source)
    save_classifier(target, model, dataclasses.replace(card, classes=["BLUE", "GREEN", "RED"]))
    return target


def point_manifest_at(manifest: Path, checkpoint: Path, sha256: str | None = None) -> None:
    document = json.loads(manifest.read_text())
    (entry,) = document["models"]
    entry.update(file=str(checkpoint), sha256=sha256 or sha256_of(checkpoint))
    entry["classes"] = ["BLUE", "GREEN", "RED"]
    manifest.write_text(json.dumps(document))


class FirstModelGated:
    """Batches of the first classifier loaded wait for the gate; later ones run freely."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.started = threading.Event()
        self.loaded = 0

    @property
    def runners(self) -> dict:
        return {**RUNNERS, "classify": self.runner}

    def runner(self, classifier):
        run = classify_runner(classifier)
        self.loaded += 1
        if self.loaded > 1:
            return run

        def gated(jobs):
            self.started.set()
            self.gate.wait(timeout=60)
            return run(jobs)

        return gated


def test_reload_swaps_in_the_new_checkpoint_while_queued_requests_finish_on_the_old(
    make_client, colour_manifest, colour_classifier, tmp_path
):
    gated = FirstModelGated()
    client = make_client(
        runners=gated.runners, manifest_path=colour_manifest, default_classify_model="colours"
    )
    new = shouting_copy(colour_classifier, tmp_path / "shouting.safetensors")
    with ThreadPoolExecutor(2) as pool:
        in_flight = pool.submit(post_image, client, RED)
        gated.started.wait(timeout=30)
        point_manifest_at(colour_manifest, new)
        reload = pool.submit(client.post, "/models/colours/reload")
        wait_until(
            lambda: client.get("/models").json()["models"][0]["sha256"] == sha256_of(new),
            "the new model is swapped in",
        )
        fresh = post_image(client, GREEN)
        assert fresh.status_code == 200
        assert fresh.json()["predictions"][0]["label"] == "GREEN", "new requests: new model"
        assert not in_flight.done(), "the old model's request is still running"
        gated.gate.set()
        old_answer, reloaded = in_flight.result(), reload.result()
    assert old_answer.status_code == 200
    assert old_answer.json()["predictions"][0]["label"] == "red", "it finished on the old model"
    assert reloaded.status_code == 200, reloaded.text
    info = reloaded.json()
    assert info["state"] == "ready"
    assert info["sha256"] == sha256_of(new)
    assert info["classes"] == ["BLUE", "GREEN", "RED"]


def test_a_reload_that_cannot_load_keeps_the_old_model_serving(
    colour_client, colour_manifest, colour_classifier
):
    point_manifest_at(colour_manifest, colour_classifier, sha256="0" * 64)
    refused = colour_client.post("/models/colours/reload")
    assert refused.status_code == 422
    detail = refused.json()["detail"]
    assert "does not match the manifest" in detail
    assert "still serves" in detail
    answer = post_image(colour_client, RED)
    assert answer.status_code == 200
    assert answer.json()["predictions"][0]["label"] == "red"
    assert colour_client.get("/health/ready").status_code == 200


def test_reloading_an_unknown_model_is_404_naming_the_models(colour_client):
    response = colour_client.post("/models/resnet-9000/reload")
    assert response.status_code == 404
    assert "'resnet-9000'" in response.json()["detail"]
    assert "colours" in response.json()["detail"]


def test_a_model_that_failed_to_load_serves_after_a_reload_once_fixed(
    make_client, colour_manifest, colour_classifier
):
    point_manifest_at(colour_manifest, colour_classifier, sha256="0" * 64)
    client = make_client(manifest_path=colour_manifest, default_classify_model="colours")
    failed = post_image(client, RED)
    assert failed.status_code == 503
    assert "does not match the manifest" in failed.json()["detail"]
    assert client.get("/health/ready").status_code == 503
    point_manifest_at(colour_manifest, colour_classifier)
    assert client.post("/models/colours/reload").status_code == 200
    assert client.get("/health/ready").status_code == 200
    assert post_image(client, RED).status_code == 200

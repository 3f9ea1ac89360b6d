"""``POST /models/{name}/reload``: a new checkpoint is loaded next to the old one and swapped in;
requests already queued finish on the old one; a bad checkpoint leaves the old one serving.
Reloading is an operator's action: off without ``D2L_ADMIN_KEY``, and it needs ``X-Admin-Key``."""

from __future__ import annotations

import dataclasses
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from app.serving.tasks.catalog import TASKS
from app.serving.tasks.classify import ClassifyTask
from models.manifest import sha256_of
from models.vision.classifier import load_classifier_file, save_classifier
from tests.app.test_batching import post_image, wait_until
from tests.gates import opened_on_exit
from tests.images import GREEN, RED

ADMIN = "operator-secret"


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
    """The first classifier loaded waits for the gate at ``stage``: ``run_batch`` (its batches)
    or ``preprocess`` (its uploads, admitted and read but not yet queued); later ones run
    freely. ``started`` is set when something waits."""

    def __init__(self, stage: str = "run_batch") -> None:
        self.gate = threading.Event()
        self.started = threading.Event()
        self.loaded = 0
        self.stage = stage

    def wait(self, gated: bool) -> None:
        if gated:
            self.started.set()
            self.gate.wait(timeout=600)

    @property
    def tasks(self) -> dict:
        gates = self

        class FirstGatedClassify(ClassifyTask):
            def __init__(self, classifier) -> None:
                super().__init__(classifier)
                gates.loaded += 1
                self.gated = gates.loaded == 1

            def run_batch(self, jobs):
                gates.wait(self.gated and gates.stage == "run_batch")
                return super().run_batch(jobs)

            def preprocess(self, image):
                gates.wait(self.gated and gates.stage == "preprocess")
                return super().preprocess(image)

        return {**TASKS, "classify": FirstGatedClassify}


@pytest.mark.parametrize(
    "stage", ["run_batch", "preprocess"], ids=["in-its-batch", "still-being-decoded"]
)
def test_reload_swaps_in_the_new_checkpoint_while_requests_taken_in_finish_on_the_old(
    make_client, colour_manifest, colour_classifier, tmp_path, stage
):
    gated = FirstModelGated(stage)
    client = make_client(
        tasks=gated.tasks,
        manifest_path=colour_manifest,
        default_classify_model="colours",
        admin_key=ADMIN,
    )
    client.headers["X-Admin-Key"] = ADMIN
    new = shouting_copy(colour_classifier, tmp_path / "shouting.safetensors")
    with ThreadPoolExecutor(2) as pool, opened_on_exit(gated.gate):
        in_flight = pool.submit(post_image, client, RED)
        gated.started.wait(timeout=600)
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
        assert not reload.done(), "the reload waits for what the old model took in"
        gated.gate.set()
        old_answer, reloaded = in_flight.result(), reload.result()
    assert old_answer.status_code == 200, old_answer.text
    assert old_answer.json()["predictions"][0]["label"] == "red", "it finished on the old model"
    assert reloaded.status_code == 200, reloaded.text
    info = reloaded.json()
    assert info["state"] == "ready"
    assert info["sha256"] == sha256_of(new)
    assert info["classes"] == ["BLUE", "GREEN", "RED"]


def admin_client(make_client, colour_manifest):
    client = make_client(
        manifest_path=colour_manifest, default_classify_model="colours", admin_key=ADMIN
    )
    client.headers["X-Admin-Key"] = ADMIN
    return client


def test_a_reload_that_cannot_load_keeps_the_old_model_serving(
    make_client, colour_manifest, colour_weights
):
    colour_client = admin_client(make_client, colour_manifest)
    point_manifest_at(colour_manifest, colour_weights, sha256="0" * 64)
    refused = colour_client.post("/models/colours/reload")
    assert refused.status_code == 422
    detail = refused.json()["detail"]
    assert "does not match the manifest" in detail
    assert "still serves" in detail
    answer = post_image(colour_client, RED)
    assert answer.status_code == 200
    assert answer.json()["predictions"][0]["label"] == "red"
    assert colour_client.get("/health/ready").status_code == 200


def test_a_reload_from_a_missing_or_damaged_file_keeps_the_old_model_serving(
    make_client, colour_manifest, colour_weights, tmp_path
):
    client = admin_client(make_client, colour_manifest)
    point_manifest_at(colour_manifest, tmp_path / "absent.safetensors", sha256="0" * 64)
    missing = client.post("/models/colours/reload")
    assert missing.status_code == 422
    assert "absent.safetensors does not exist" in missing.json()["detail"]
    damaged = tmp_path / "damaged.safetensors"
    damaged.write_bytes(colour_weights.read_bytes()[:200])
    point_manifest_at(colour_manifest, damaged)
    refused = client.post("/models/colours/reload")
    assert refused.status_code == 422
    assert "still serves" in refused.json()["detail"]
    assert post_image(client, RED).json()["predictions"][0]["label"] == "red"


def test_reloading_is_off_without_an_admin_key_and_needs_it_when_set(make_client, colour_manifest):
    off = make_client(manifest_path=colour_manifest, default_classify_model="colours")
    refused = off.post("/models/colours/reload")
    assert refused.status_code == 403
    assert "D2L_ADMIN_KEY" in refused.json()["detail"]
    keyed = make_client(
        manifest_path=colour_manifest,
        default_classify_model="colours",
        api_key="k",
        admin_key=ADMIN,
    )
    assert keyed.post("/models/colours/reload").status_code == 401
    assert keyed.post("/models/colours/reload", headers={"X-API-Key": "k"}).status_code == 401, (
        "the API key does not open reloading"
    )
    wrong = keyed.post("/models/colours/reload", headers={"X-Admin-Key": ADMIN + "x"})
    assert wrong.status_code == 401
    assert "not a valid admin key" in wrong.json()["detail"]
    assert keyed.post("/models/colours/reload", headers={"X-Admin-Key": ADMIN}).status_code == 200


def test_reloading_an_unknown_model_is_404_naming_the_models(make_client, colour_manifest):
    colour_client = admin_client(make_client, colour_manifest)
    response = colour_client.post("/models/resnet-9000/reload")
    assert response.status_code == 404
    assert "'resnet-9000'" in response.json()["detail"]
    assert "colours" in response.json()["detail"]


def test_a_model_that_failed_to_load_serves_after_a_reload_once_fixed(
    make_client, colour_manifest, colour_weights
):
    point_manifest_at(colour_manifest, colour_weights, sha256="0" * 64)
    client = admin_client(make_client, colour_manifest)
    failed = post_image(client, RED)
    assert failed.status_code == 503
    assert "does not match the manifest" in failed.json()["detail"]
    assert client.get("/health/ready").status_code == 503
    point_manifest_at(colour_manifest, colour_weights)
    assert client.post("/models/colours/reload").status_code == 200
    assert client.get("/health/ready").status_code == 200
    assert post_image(client, RED).status_code == 200


def test_a_second_reload_while_one_runs_is_409(make_client, colour_manifest):
    gate = threading.Event()
    reloading = threading.Event()
    loads = []

    class GatedAfterStart(ClassifyTask):  # the first load runs; a reload waits
        @classmethod
        def load(cls, entry, placement):
            loads.append(entry.name)
            if len(loads) > 1:
                reloading.set()
                gate.wait(600)
            return super().load(entry, placement)

    client = make_client(
        manifest_path=colour_manifest,
        default_classify_model="colours",
        admin_key=ADMIN,
        tasks={**TASKS, "classify": GatedAfterStart},
    )
    client.headers["X-Admin-Key"] = ADMIN
    with ThreadPoolExecutor(1) as pool, opened_on_exit(gate):
        first = pool.submit(client.post, "/models/colours/reload")
        assert reloading.wait(600)
        second = client.post("/models/colours/reload")
        assert second.status_code == 409
        assert "already being reloaded" in second.json()["detail"]
        assert post_image(client, RED).status_code == 200, "the old model serves meanwhile"
        gate.set()
        assert first.result().status_code == 200


def test_reloads_under_load_lose_no_request(
    make_client, colour_manifest, colour_classifier, tmp_path
):
    client = admin_client(make_client, colour_manifest)
    checkpoints = [
        shouting_copy(colour_classifier, tmp_path / "shouting.safetensors"),
        tmp_path / "calm.safetensors",
    ]
    checkpoints[1].write_bytes(colour_classifier.read_bytes())
    reloads_done = threading.Event()
    all_asking = threading.Barrier(9)  # the 8 askers have each been answered once, and the test

    def keep_asking(seed: int) -> list[int]:
        statuses = [post_image(client, RED, seed).status_code]
        all_asking.wait(timeout=600)
        while not reloads_done.is_set():
            statuses.append(post_image(client, RED, seed).status_code)
        return statuses

    with ThreadPoolExecutor(8) as pool:
        askers = [pool.submit(keep_asking, seed) for seed in range(8)]
        try:
            all_asking.wait(timeout=600)
            for index in range(6):
                checkpoint = checkpoints[index % 2]
                document = json.loads(colour_manifest.read_text())
                document["models"][0].update(file=str(checkpoint), sha256=sha256_of(checkpoint))
                colour_manifest.write_text(json.dumps(document))
                assert client.post("/models/colours/reload").status_code == 200
        finally:
            reloads_done.set()
        statuses = [status for asker in askers for status in asker.result()]
    assert set(statuses) == {200}, f"lost requests: {sorted(set(statuses))}"


def test_the_default_model_is_the_manifests_mark_unless_a_setting_names_another(
    make_client, write_manifest, colour_weights: Path
):
    """A request naming no model gets its task's model marked ``default`` in the manifest (or
    the task's only model); ``D2L_DEFAULT_CLASSIFY_MODEL`` overrides it; with neither, the
    answer says how to choose."""

    def entry(name: str) -> dict:
        digest = sha256_of(colour_weights)
        return {"name": name, "task": "classify", "file": colour_weights.name, "sha256": digest}

    def defaults(client) -> dict[str, bool]:
        return {model["name"]: model["default"] for model in client.get("/models").json()["models"]}

    marked = write_manifest([entry("first"), {**entry("second"), "default": True}])
    client = make_client(manifest_path=marked)
    assert defaults(client) == {"first": False, "second": True}
    assert post_image(client, RED).json()["model"] == "second"
    overridden = make_client(manifest_path=marked, default_classify_model="first")
    assert defaults(overridden) == {"first": True, "second": False}
    assert post_image(overridden, RED).json()["model"] == "first"

    unmarked = make_client(manifest_path=write_manifest([entry("first"), entry("second")]))
    refused = post_image(unmarked, RED)
    assert refused.status_code == 404
    assert refused.json()["detail"] == (
        'there is no default classify model: name one with model=, or mark one "default": '
        "true in the manifest; classify models: first, second"
    )
    assert post_image(unmarked, RED, query="?model=first").json()["model"] == "first"

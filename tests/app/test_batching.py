"""Dynamic batching through HTTP: every answer belongs to its request, a model at capacity answers
503 with Retry-After at once, a request still queued at its timeout gets 504. Gates, not clocks,
decide when the model is busy, so no outcome depends on the machine's speed."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.serving.tasks.catalog import TASKS
from app.serving.tasks.classify import ClassifyTask
from tests.devices import ON_GPU, SCORE_TOLERANCE
from tests.gates import opened_on_exit
from tests.images import BLUE, GREEN, RED, colour_image, encoded


class GatedClassifier:
    """The real classify runner behind a gate: a batch starts, then waits until the test opens
    the gate, so the test controls when the model is busy. With ``fails``, a batch of jobs for
    which it is true raises instead, as torch does on an input a model cannot take."""

    def __init__(self, fails: Callable[[list], bool] | None = None) -> None:
        self.gate = threading.Event()
        self.started = threading.Event()
        self.batches: list[int] = []
        self.fails = fails

    @property
    def tasks(self) -> dict:
        gates = self

        class GatedClassify(ClassifyTask):
            def run_batch(self, jobs):
                gates.batches.append(len(jobs))
                gates.started.set()
                gates.gate.wait(timeout=600)
                if gates.fails is not None and gates.fails(jobs):
                    raise RuntimeError("Input and output sizes should be greater than 0")
                return super().run_batch(jobs)

        return {**TASKS, "classify": GatedClassify}


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 600  # generous: only a bug takes this long
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.005)


def post_image(
    client, colour, seed: int = 0, size=(40, 30), query: str = "", request_id: str | None = None
):
    upload = encoded(colour_image(colour, size, seed))
    headers = {"X-Request-ID": request_id} if request_id else {}
    files = {"file": ("x.jpg", upload, "image/jpeg")}
    return client.post(f"/classify{query}", files=files, headers=headers)


def queue_depth(client) -> int:
    return client.app.state.registry.get("colours", ClassifyTask).batcher.depth


def test_concurrent_requests_get_exactly_the_answers_they_get_one_by_one(
    make_client, colour_manifest
):
    gated = GatedClassifier()
    client = make_client(
        tasks=gated.tasks, manifest_path=colour_manifest, default_classify_model="colours"
    )
    requests = [(colour, seed) for seed in range(8) for colour in (RED, GREEN, BLUE)]
    sizes = [(24 + 3 * i, 20 + 2 * i) for i in range(len(requests))]
    gated.gate.set()
    alone = [
        post_image(client, colour, seed, size, "?top_k=3").json()
        for (colour, seed), size in zip(requests, sizes, strict=True)
    ]
    gated.gate.clear()
    gated.batches.clear()
    with ThreadPoolExecutor(len(requests) + 1) as pool, opened_on_exit(gated.gate):
        blocker = pool.submit(post_image, client, RED)  # holds the model busy
        wait_until(lambda: gated.batches == [1], "the model is busy")
        answers = [
            pool.submit(post_image, client, c, s, size, "?top_k=3")
            for (c, s), size in zip(requests, sizes, strict=True)
        ]
        wait_until(lambda: queue_depth(client) == len(requests), "every request is queued")
        gated.gate.set()
        together = [answer.result().json() for answer in answers]
        assert blocker.result().status_code == 200
    assert gated.batches == [1, len(requests)], "the 24 queued requests shared one forward pass"
    for one, other in zip(alone, together, strict=True):
        assert one["image"] == other["image"], "an answer went to the wrong request"
        assert [p["label"] for p in one["predictions"]] == [
            p["label"] for p in other["predictions"]
        ]
        for p, q in zip(one["predictions"], other["predictions"], strict=True):
            assert p["score"] == pytest.approx(q["score"], abs=SCORE_TOLERANCE)


def test_a_model_at_capacity_answers_503_with_retry_after_and_the_taken_requests_succeed(
    make_client, colour_manifest
):
    gated = GatedClassifier()
    client = make_client(
        tasks=gated.tasks,
        manifest_path=colour_manifest,
        default_classify_model="colours",
        max_batch_size=1,
        max_wait_ms=0,
        max_queue=3,  # the running image counts too
    )
    with ThreadPoolExecutor(3) as pool, opened_on_exit(gated.gate):
        running = pool.submit(post_image, client, RED)
        gated.started.wait(timeout=600)
        queued = [pool.submit(post_image, client, c) for c in (GREEN, BLUE)]
        wait_until(lambda: queue_depth(client) == 2, "two requests are queued")
        refused = post_image(client, RED)
        assert refused.status_code == 503
        assert int(refused.headers["Retry-After"]) >= 1
        assert "at capacity" in refused.json()["detail"]
        assert "D2L_MAX_QUEUE" in refused.json()["detail"]
        not_an_image = client.post("/classify", files={"file": ("x.jpg", b"text", "image/jpeg")})
        assert not_an_image.status_code == 503, "refused before the upload was read"
        batch = client.post(
            "/classify/batch",
            files=[("file", ("x.jpg", encoded(colour_image(RED)), "image/jpeg"))] * 2,
        )
        assert batch.status_code == 503
        gated.gate.set()
        answers = [running.result(), *(q.result() for q in queued)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.json()["predictions"][0]["label"] for a in answers] == ["red", "green", "blue"]
    assert client.app.state.registry.get("colours", ClassifyTask).batcher.capacity.in_use == 0
    metrics = client.get("/metrics").text
    assert _sample(metrics, 'd2l_http_requests_total{method="POST",route="/classify",status="503"}')


def test_a_request_still_queued_at_its_timeout_gets_504_and_a_started_one_is_answered(
    make_client, colour_manifest
):
    gated = GatedClassifier()
    client = make_client(
        tasks=gated.tasks,
        manifest_path=colour_manifest,
        default_classify_model="colours",
        max_batch_size=1,
        max_wait_ms=0,
        request_timeout_s=0.3,
    )
    with ThreadPoolExecutor(1) as pool, opened_on_exit(gated.gate):
        started = pool.submit(post_image, client, RED)
        gated.started.wait(timeout=600)
        # The gate holds the model until this request has timed out: it cannot start in time.
        late = post_image(client, GREEN)
        assert late.status_code == 504
        assert "did not start on the request within 0.3 s" in late.json()["detail"]
        gated.gate.set()
        answered = started.result()
    assert answered.status_code == 200, "a started request is answered, however long it took"
    assert answered.json()["predictions"][0]["label"] == "red"
    assert gated.batches == [1], "the timed-out request never reached the model"


def test_batching_can_be_set_per_model(make_client, colour_manifest, monkeypatch):
    monkeypatch.setenv("D2L_BATCHING", '{"colours": {"max_batch_size": 3, "max_wait_ms": 7}}')
    client = make_client(manifest_path=colour_manifest, max_batch_size=8)
    (model,) = client.get("/models").json()["models"]
    assert model["batching"] == {
        "max_batch_size": 3,
        "max_wait_ms": 7.0,
        "max_queue": 256,
        "max_queue_wait_s": 2.0,
    }


def _sample(exposition: str, series: str) -> float:
    """The value of one series in Prometheus text (the labels in the exposition's order)."""
    for line in exposition.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{series} not in the metrics")


def test_a_manifest_hint_sets_the_batch_size_for_the_device_unless_the_environment_does(
    make_client, colour_manifest, monkeypatch
):
    document = json.loads(colour_manifest.read_text())
    document["models"][0]["batching"] = {
        "cpu": {"max_batch_size": 5},
        "cuda": {"max_batch_size": 256},
    }
    colour_manifest.write_text(json.dumps(document))
    client = make_client(manifest_path=colour_manifest, max_batch_size=8)
    (model,) = client.get("/models").json()["models"]
    hint = 256 if ON_GPU else 5
    assert model["batching"]["max_batch_size"] == hint, "the hint of the device in use"
    monkeypatch.setenv("D2L_BATCHING", '{"colours": {"max_batch_size": 3}}')
    client = make_client(manifest_path=colour_manifest, max_batch_size=8)
    (model,) = client.get("/models").json()["models"]
    assert model["batching"]["max_batch_size"] == 3, "D2L_BATCHING wins over the manifest"

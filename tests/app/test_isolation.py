"""A bad input fails alone: when a batch fails, its items run again one by one, and only the one
that fails alone gets an error, a 422 that says so; the others get their answers. Gates, not
clocks, put the requests in one batch."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from PIL import Image

from tests.app.test_batching import GatedClassifier, post_image, queue_depth, wait_until
from tests.gates import opened_on_exit
from tests.images import BLUE, GREEN, RED, encoded


def has_black_image(jobs) -> bool:
    return any(int(job.input.max()) == 0 for job in jobs)


def post_black(client):
    black = encoded(Image.new("RGB", (40, 30)))
    return client.post("/classify", files={"file": ("black.jpg", black, "image/jpeg")})


def test_one_poisoned_image_fails_alone_and_its_batch_mates_are_answered(
    make_client, colour_manifest
):
    fragile = GatedClassifier(fails=has_black_image)
    client = make_client(
        tasks=fragile.tasks, manifest_path=colour_manifest, default_classify_model="colours"
    )
    colours = [RED, GREEN, BLUE] * 2
    with ThreadPoolExecutor(len(colours) + 2) as pool, opened_on_exit(fragile.gate):
        blocker = pool.submit(post_image, client, RED)  # holds the model busy
        wait_until(lambda: fragile.batches == [1], "the model is busy")
        good = [
            pool.submit(post_image, client, colour, seed) for seed, colour in enumerate(colours)
        ]
        poisoned = pool.submit(post_black, client)
        wait_until(lambda: queue_depth(client) == len(colours) + 1, "all are queued")
        fragile.gate.set()
        answers = [g.result() for g in good]
        refused = poisoned.result()
        assert blocker.result().status_code == 200
    assert fragile.batches[:2] == [1, len(colours) + 1], "the poisoned image shared their batch"
    assert fragile.batches[2:] == [1] * (len(colours) + 1), "then each ran alone"
    assert [a.status_code for a in answers] == [200] * len(colours)
    labels = [a.json()["predictions"][0]["label"] for a in answers]
    assert labels == ["red", "green", "blue"] * 2
    assert refused.status_code == 422
    detail = refused.json()["detail"]
    assert "failed on this input alone (RuntimeError)" in detail
    assert "the requests batched with it were answered" in detail
    assert "greater than 0" not in detail, "the library's message stays in the log"
    assert post_image(client, GREEN).status_code == 200, "the model serves on"

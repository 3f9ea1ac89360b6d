"""Admission before work: a request is taken in or refused before its body is read, and heavy
geometry runs on its own small pool, so neither a flood of uploads nor expensive geometry takes
the cores of the requests already taken in. Gates decide when the workers are busy."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from tests.app.test_batching import post_image, wait_until
from tests.gates import opened_on_exit
from tests.images import RED

IOU = {"boxes1": [[0, 0, 2, 2]], "boxes2": [[1, 1, 3, 3]]}


def test_geometry_beyond_its_capacity_is_refused_before_the_body_is_read(
    make_client, colour_manifest
):
    client = make_client(
        manifest_path=colour_manifest,
        default_classify_model="colours",
        geometry_workers=1,
        geometry_queue=2,
    )
    pool = client.app.state.geometry
    gate = threading.Event()
    busy = pool.executor.submit(gate.wait, 600)  # the one geometry worker is busy
    with ThreadPoolExecutor(2) as senders, opened_on_exit(gate):
        taken = [senders.submit(client.post, "/geometry/iou", json=IOU) for _ in range(2)]
        wait_until(lambda: pool.capacity.in_use == 2, "two geometry requests are taken in")
        refused = client.post(
            "/geometry/iou", content=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert refused.status_code == 503, "refused before its (broken) body was parsed"
        assert int(refused.headers["Retry-After"]) >= 1
        assert "D2L_GEOMETRY_QUEUE" in refused.json()["detail"]
        # The image models and the probes do not wait for geometry.
        answer = post_image(client, RED)
        assert answer.status_code == 200
        assert answer.json()["predictions"][0]["label"] == "red"
        assert client.get("/health/live").status_code == 200
        gate.set()
        busy.result()
        results = [t.result() for t in taken]
    assert [r.status_code for r in results] == [200, 200]
    assert results[0].json() == {"iou": [[1 / 7]]}
    assert pool.capacity.in_use == 0


def test_an_unknown_or_unready_model_is_answered_before_the_upload_is_read(colour_client):
    not_an_image = {"file": ("x.jpg", b"not an image", "image/jpeg")}
    unknown = colour_client.post("/classify?model=nope", files=not_an_image)
    assert unknown.status_code == 404, "answered before the upload was decoded (else 422)"
    assert "nope" in unknown.json()["detail"]
    wrong_task = colour_client.post("/detect?model=colours", files=not_an_image)
    assert wrong_task.status_code == 404


def test_geometry_answers_are_the_same_through_the_pool(colour_client):
    nms = colour_client.post(
        "/geometry/nms",
        json={
            "boxes": [[0, 0, 10, 10], [1, 1, 11, 11]],
            "scores": [0.9, 0.8],
            "iou_threshold": 0.5,
        },
    )
    assert nms.status_code == 200
    assert nms.headers["content-type"] == "application/json"
    assert nms.json() == {"keep": [0]}
    bad = colour_client.post("/geometry/iou", json={"boxes1": [[0, 0, 1]], "boxes2": []})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["loc"][:2] == ["body", "boxes1"]

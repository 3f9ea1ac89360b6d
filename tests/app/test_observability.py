"""``GET /metrics`` (Prometheus), request ids and the JSON request log."""

from __future__ import annotations

import io
import json
import logging

import pytest

from app.core.logging import JsonFormatter
from tests.app.test_batching import _sample, post_image
from tests.devices import ON_GPU
from tests.images import RED


def test_metrics_count_requests_batches_queue_and_models(colour_client):
    assert post_image(colour_client, RED).status_code == 200
    assert colour_client.post("/classify").status_code == 422
    response = colour_client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    ok = 'd2l_http_requests_total{method="POST",route="/classify",status="200"}'
    assert _sample(text, ok) == 1
    assert _sample(text, 'd2l_http_requests_total{method="POST",route="/classify",status="422"}')
    assert _sample(text, 'd2l_http_request_duration_seconds_count{method="POST",route="/classify"}')
    assert _sample(text, 'd2l_model_batch_size_count{model="colours"}') == 1
    assert _sample(text, 'd2l_model_batch_size_sum{model="colours"}') == 1
    assert _sample(text, 'd2l_model_inference_seconds_count{model="colours"}') == 1
    assert _sample(text, 'd2l_model_queue_depth{model="colours"}') == 0
    assert _sample(text, 'd2l_model_in_progress{model="colours"}') == 0, "given back"
    assert _sample(text, "d2l_geometry_in_progress") == 0
    assert _sample(text, 'd2l_models{state="ready"}') == 1
    assert _sample(text, 'd2l_models{state="failed"}') == 0
    ready = 'd2l_model_state{model="colours",state="ready",task="classify"}'
    assert _sample(text, ready) == 1, "each model's state, by name"
    assert _sample(text, 'd2l_model_state{model="colours",state="failed",task="classify"}') == 0
    assert _sample(text, "process_resident_memory_bytes") > 0
    assert _sample(text, "process_open_fds") > 0
    assert "python_info{" in text
    assert ("d2l_gpu_memory_bytes" in text) == ON_GPU, "GPU memory is reported on a GPU only"


def test_metrics_label_unknown_paths_by_one_value_not_by_url(colour_client):
    for path in ("/nope/1", "/nope/2"):
        assert colour_client.get(path).status_code == 404
    text = colour_client.get("/metrics").text
    unmatched = 'd2l_http_requests_total{method="GET",route="unmatched",status="404"}'
    assert _sample(text, unmatched) == 2
    assert "/nope/" not in text


def test_a_request_id_is_echoed_or_generated(colour_client):
    sent = colour_client.get("/health/live", headers={"X-Request-ID": "front-end.42"})
    assert sent.headers["X-Request-ID"] == "front-end.42"
    fresh = colour_client.get("/health/live").headers["X-Request-ID"]
    assert len(fresh) == 32 and int(fresh, 16) >= 0
    assert fresh != colour_client.get("/health/live").headers["X-Request-ID"]
    unsafe = colour_client.get("/health/live", headers={"X-Request-ID": "a b\tc" + "x" * 200})
    assert len(unsafe.headers["X-Request-ID"]) == 32, "an unusable id is replaced"
    error = colour_client.post("/classify", headers={"X-Request-ID": "bad-upload-1"})
    assert error.status_code == 422
    assert error.headers["X-Request-ID"] == "bad-upload-1", "errors carry the id too"


@pytest.fixture
def request_log():
    """The request logger's lines as JSON, as the service writes them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("app.requests")
    logger.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)


def test_each_request_is_logged_as_json_with_its_id(colour_client, request_log):
    post_image(colour_client, RED, query="?top_k=2")
    colour_client.get("/models", headers={"X-Request-ID": "front-end-7"})
    classify, listing = request_log()[-2:]
    assert classify["message"] == "POST /classify 200"
    assert classify["route"] == "/classify"
    assert classify["status"] == 200
    assert classify["duration_ms"] > 0
    assert len(classify["request_id"]) == 32
    assert classify["level"] == "info"
    assert classify["time"].endswith("Z")
    assert listing["request_id"] == "front-end-7"
    assert listing["path"] == "/models"


def test_probes_and_scrapes_are_logged_at_debug_unless_they_fail(colour_client, request_log):
    for path in ("/health/live", "/health/ready", "/metrics"):
        assert colour_client.get(path).status_code == 200
    assert request_log() == [], "a probe every few seconds would flood the info log"
    logger = logging.getLogger("app.requests")
    logger.setLevel(logging.DEBUG)
    try:
        colour_client.get("/health/ready", headers={"X-Request-ID": "probe-7"})
    finally:
        logger.setLevel(logging.NOTSET)
    (probe,) = request_log()
    assert (probe["level"], probe["request_id"], probe["status"]) == ("debug", "probe-7", 200)

"""Every error is JSON with a `detail` that says what was wrong; nothing answers 500."""

from __future__ import annotations

import io
import json
import logging

import pytest

from app.core.logging import HANDLER_NAME
from app.serving.tasks.catalog import TASKS
from app.serving.tasks.classify import ClassifyTask
from tests.app.test_batching import post_image
from tests.images import RED

JSON = {"content-type": "application/json"}


@pytest.fixture
def client(committed_client):
    """One app for the whole module: these requests change no state."""
    return committed_client


def test_unknown_path_is_a_json_404_pointing_to_the_docs(client):
    response = client.get("/nowhere")
    assert response.status_code == 404
    assert response.json() == {
        "detail": "No endpoint at GET /nowhere: the endpoints are listed at /docs and /openapi.json"
    }


def test_wrong_method_is_a_json_405_naming_the_allowed_one(client):
    response = client.get("/geometry/iou")
    assert response.status_code == 405
    assert response.json() == {"detail": "GET is not allowed on /geometry/iou; use POST"}
    assert response.headers["allow"] == "POST"


def test_malformed_json_says_where(client):
    response = client.post("/geometry/iou", content='{"boxes1": [[0, 0, 1, 1]],', headers=JSON)
    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert error["type"] == "json_invalid"
    assert "not valid JSON" in error["msg"] and "at character" in error["msg"]


def test_a_body_that_is_not_utf8_is_a_clear_400(client):
    response = client.post("/geometry/iou", content=b"\xff\xfe{", headers=JSON)
    assert response.status_code == 400
    assert "encoded as UTF-8" in response.json()["detail"]


def test_missing_and_non_object_bodies(client):
    missing = client.post("/geometry/iou")
    assert missing.status_code == 422
    assert "A JSON request body is required" in missing.json()["errors"][0]["msg"]
    listed = client.post("/geometry/iou", content="[1, 2]", headers=JSON)
    assert listed.status_code == 422
    assert "must be a JSON object" in listed.json()["errors"][0]["msg"]
    text = client.post("/geometry/iou", content="boxes", headers={"content-type": "text/plain"})
    assert text.status_code == 422


def test_nan_and_infinity_are_refused_everywhere(client):
    for literal in ("NaN", "Infinity", "-Infinity"):
        body = f'{{"boxes1": [[0, 0, {literal}, 1]], "boxes2": [[0, 0, 1, 1]]}}'
        response = client.post("/geometry/iou", content=body, headers=JSON)
        assert response.status_code == 422, literal
        (error,) = response.json()["errors"]
        assert error["loc"] == ["body", "boxes1", 0, 2]
        assert "finite number" in error["msg"]
    nested = '{"input": [[0, 1], [2, NaN]], "kernel": [[0, 1], [2, 3]]}'
    response = client.post("/geometry/conv-transpose", content=nested, headers=JSON)
    assert response.status_code == 422
    assert "input[1][1]" in response.json()["errors"][0]["msg"]
    threshold = '{"boxes": [], "scores": [], "iou_threshold": NaN}'
    assert client.post("/geometry/nms", content=threshold, headers=JSON).status_code == 422


def test_unknown_fields_are_refused_as_likely_typos(client):
    body = {"boxes": [], "scores": [], "iou_treshold": 0.5}
    response = client.post("/geometry/nms", json=body)
    assert response.status_code == 422
    messages = [error["msg"] for error in response.json()["errors"]]
    assert "Unknown field 'iou_treshold': remove it (see the schema at /docs)" in messages


def test_validation_errors_do_not_echo_the_input(client):
    response = client.post("/geometry/iou", json={"boxes1": "x" * 10_000, "boxes2": []})
    assert response.status_code == 422
    assert len(response.content) < 1_000
    assert set(response.json()["errors"][0]) == {"loc", "msg", "type"}


def test_body_over_the_limit_is_a_json_413(make_client):
    client = make_client(max_body_bytes=1_000)
    body = '{"boxes1": [], "boxes2": [], "pad": "' + "x" * 2_000 + '"}'
    declared = client.post("/geometry/iou", content=body, headers=JSON)
    assert declared.status_code == 413
    assert "larger than the limit of 1,000 bytes" in declared.json()["detail"]

    def chunks():
        for _ in range(4):
            yield b"x" * 500

    streamed = client.post("/geometry/iou", content=chunks(), headers=JSON)
    assert streamed.request.headers.get("transfer-encoding") == "chunked"
    assert streamed.status_code == 413
    assert "D2L_MAX_BODY_BYTES" in streamed.json()["detail"]
    assert client.post("/nowhere", content=body, headers=JSON).status_code == 413
    small = client.post("/geometry/iou", json={"boxes1": [], "boxes2": []})
    assert small.status_code == 200


LONG_INPUT = "x" * 2_000


def test_long_inputs_are_never_echoed_whole(colour_client):
    answers = [
        colour_client.post(
            f"/classify?model={LONG_INPUT}", files={"file": ("a.jpg", b"1", "image/jpeg")}
        ),
        colour_client.post("/classify", files={"file": (LONG_INPUT + ".jpg", b"1", "image/jpeg")}),
        colour_client.get(f"/{LONG_INPUT}"),
        colour_client.delete(f"/geometry/iou?{LONG_INPUT}"),
        colour_client.post("/geometry/iou", json={"boxes1": [], "boxes2": [], LONG_INPUT: 1}),
        colour_client.post(f"/models/{LONG_INPUT}/reload"),
    ]
    assert [a.status_code for a in answers] == [404, 422, 404, 405, 422, 403]
    for answer in answers:
        text = answer.text
        assert "x" * 65 not in text, text[:200]
    assert "x" * 63 + "…" in answers[0].json()["detail"], "a long name is cut, not dropped"
    assert answers[1].json()["errors"][0]["msg"].startswith("x" * 63 + "…: ")


def test_an_unknown_word_is_not_echoed_whole(client):
    answer = client.get("/similar", params={"word": "q" * 100})
    assert answer.status_code == 404
    assert "q" * 65 not in answer.json()["detail"]


def test_json_nested_too_deeply_is_a_422_that_says_so(client):
    deep = "[" * 10_000 + "]" * 10_000
    answer = client.post("/geometry/iou", content=deep, headers=JSON)
    assert answer.status_code == 422
    (error,) = answer.json()["errors"]
    assert error["type"] == "json_too_deep"
    assert "nests arrays or objects too deeply" in error["msg"]
    shallow = client.post("/geometry/iou", content="[" * 50 + "]" * 50, headers=JSON)
    assert shallow.status_code == 422
    assert "must be a JSON object" in shallow.json()["errors"][0]["msg"]


@pytest.mark.parametrize("value", ["true", '"1"', "null", "[1]"])
def test_types_are_strict_a_boolean_or_a_string_is_not_a_number(client, value):
    body = f'{{"boxes1": [[0, 0, {value}, 1]], "boxes2": [[0, 0, 1, 1]]}}'
    answer = client.post("/geometry/iou", content=body, headers=JSON)
    assert answer.status_code == 422
    (error,) = answer.json()["errors"]
    assert error["loc"] == ["body", "boxes1", 0, 2]
    labels = client.post(
        "/geometry/nms",
        content=f'{{"boxes": [[0, 0, 1, 1]], "scores": [0.5], "iou_threshold": 0.5, '
        f'"labels": [{value}]}}',
        headers=JSON,
    )
    assert labels.status_code == 422


def test_an_unexpected_error_is_a_json_500_without_the_trace_and_logged_with_the_id(
    make_client, colour_manifest
):
    class BrokenClassify(ClassifyTask):
        # (A model that fails on an input in its batch answers 422 for that input alone:
        # tests/app/test_isolation.py. A bug elsewhere on the request's path is a 500.)
        def preprocess(self, image):
            raise RuntimeError("a bug in the model code: secret internals")

    client = make_client(
        tasks={**TASKS, "classify": BrokenClassify},
        raise_server_exceptions=False,
        manifest_path=colour_manifest,
        default_classify_model="colours",
    )
    # The app's own logging set-up (JSON lines), beside pytest's capture handlers.
    (handler,) = [h for h in logging.getLogger().handlers if h.get_name() == HANDLER_NAME]
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        answer = post_image(client, RED, query="", request_id="failing-7")
    finally:
        handler.setStream(previous)
    assert answer.status_code == 500
    assert answer.json() == {
        "detail": "Internal error: the request could not be completed; it has been logged."
    }
    assert "secret internals" not in answer.text and "Traceback" not in answer.text
    assert answer.headers["X-Request-ID"] == "failing-7"
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    mine = [line for line in lines if line.get("request_id") == "failing-7"]
    assert [line["logger"] for line in mine] == ["app.core.errors", "app.requests"]
    assert "secret internals" in mine[0]["exception"], "the trace is in the log"
    assert mine[1]["status"] == 500

"""What a careless or hostile client sent and used to break (issue 29), over HTTP against the
committed models: slivers and extreme shapes, truncated and odd files, formats not served,
overflowing geometry, HEAD, over-long integers, other encodings, spaced words. Each answer is the
documented 2xx or 4xx, never a 500."""

from __future__ import annotations

import json
import math

import pytest
from PIL import Image

from app.core.security import ADMIN_PATH
from app.schemas.geometry.limits import MAX_MAGNITUDE
from tests.images import encoded, noise_image

IMAGE_ENDPOINTS = [
    "/classify",
    "/detect",
    "/detect?model=fasterrcnn-logo",
    "/detect/render?model=fasterrcnn-logo",
]
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def client(committed_client):
    return committed_client


def post(client, endpoint: str, data: bytes, name: str = "upload.png"):
    return client.post(endpoint, files={"file": (name, data)})


def png(size: tuple[int, int], mode: str = "1", **options) -> bytes:
    return encoded(Image.new(mode, size), "PNG", **options)


@pytest.mark.parametrize("endpoint", IMAGE_ENDPOINTS)
def test_a_sliver_is_a_422_that_names_the_limit_on_every_image_endpoint(client, endpoint):
    answer = post(client, endpoint, png((1000, 1)))
    assert answer.status_code == 422
    assert "more elongated than 20 to 1" in answer.json()["detail"]
    assert "D2L_MAX_IMAGE_ASPECT" in answer.json()["detail"]
    assert post(client, endpoint, png((20, 1))).status_code == 200, "20 to 1 is taken"


@pytest.mark.parametrize(
    ("size", "endpoint"),
    [((40_000_000, 1), "/classify"), ((1, 40_000_000), "/detect"), ((2_000_000, 20), "/detect")],
)
def test_extreme_shapes_under_the_pixel_cap_are_refused_from_the_header(client, size, endpoint):
    data = png(size)
    assert len(data) < 100_000
    answer = post(client, endpoint, data)
    assert answer.status_code == 413
    assert "over the limit of 16,384 on a side" in answer.json()["detail"]


@pytest.mark.parametrize("endpoint", IMAGE_ENDPOINTS)
def test_a_truncated_png_is_a_422_on_every_image_endpoint(client, endpoint):
    data = encoded(noise_image((64, 48), 60).convert("RGB"), "PNG")
    for cut in (40, len(data) // 2, len(data) - 200):  # its header, pixels, last rows
        answer = post(client, endpoint, data[:cut])
        assert answer.status_code == 422, (cut, answer.text)
        detail = answer.json()["detail"]
        assert "truncated or corrupt" in detail or "not an image that can be read" in detail


def test_a_png_with_a_large_colour_profile_is_served(client):
    data = encoded(Image.new("RGB", (40, 30), "red"), "PNG", icc_profile=bytes(5_000_000))
    assert post(client, "/classify", data).status_code == 200


@pytest.mark.parametrize(
    ("name", "data", "format_name"),
    [
        ("logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>', "SVG"),
        ("photo.heic", b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + bytes(64), "HEIC"),
    ],
)
def test_formats_not_served_are_415(client, name, data, format_name):
    answer = post(client, "/classify", data, name)
    assert answer.status_code == 415
    assert answer.json()["detail"].startswith(f"{name}: {format_name} files are not accepted")


def test_each_image_model_says_what_it_accepts(client):
    models = {m["name"]: m for m in client.get("/models").json()["models"]}
    assert models["fasterrcnn-logo"]["accepts"] == {
        "max_pixels": 40_000_000,
        "max_side": 16_384,
        "min_side": 1,
        "max_aspect": 20.0,
    }
    assert models["word2vec-skipgram-ptb"]["accepts"] is None


def get_paths(client) -> list[str]:
    """Every GET path of the schema but the operator's, with the required query parameters
    filled in."""
    paths = []
    for path, operations in client.get("/openapi.json").json()["paths"].items():
        if "get" in operations and "{" not in path and not ADMIN_PATH.fullmatch(path):
            required = [
                p["name"] for p in operations["get"].get("parameters", []) if p.get("required")
            ]
            query = "&".join(f"{name}=chip" for name in required)
            paths.append(f"{path}?{query}" if query else path)
    return paths


def test_head_is_answered_like_get_without_a_body_on_every_get_route(client):
    paths = get_paths(client) + ["/", "/docs", "/redoc"]
    assert "/models" in paths and "/similar?word=chip" in paths
    for path in paths:
        got, head = client.get(path), client.head(path)
        assert head.status_code == got.status_code == 200, path
        assert head.content == b"", path
        assert head.headers["content-type"] == got.headers["content-type"], path
    assert client.head("/detect").status_code == 405, "POST-only routes still say so"
    assert client.head("/nowhere").status_code == 404


def test_an_integer_too_long_to_read_is_a_422_not_a_400(client):
    body = '{"boxes1": [[0, 0, 1, 1]], "boxes2": [[0, 0, 1, %s]]}' % ("1" * 5000)
    answer = client.post("/geometry/iou", content=body, headers=JSON)
    assert answer.status_code == 422
    assert "an integer of more than 4,300 digits at character 48" in answer.json()["detail"]


def test_a_body_in_another_encoding_than_utf8_is_a_400(client):
    body = json.dumps({"boxes1": [[0, 0, 1, 1]], "boxes2": [[0, 0, 1, 1]]})
    for encoding in ("utf-16", "utf-32"):  # their byte-order marks are not UTF-8
        answer = client.post("/geometry/iou", content=body.encode(encoding), headers=JSON)
        assert answer.status_code == 400, encoding
        assert "send JSON encoded as UTF-8" in answer.json()["detail"]
    with_bom = client.post("/geometry/iou", content=body.encode("utf-8-sig"), headers=JSON)
    assert with_bom.json() == {"iou": [[1.0]]}, "a UTF-8 byte-order mark is skipped"


def test_a_word_with_spaces_around_it_is_found_and_counts_agree(client):
    spaced = client.get("/similar", params={"word": " chip ", "k": 2})
    assert spaced.status_code == 200
    assert spaced.json()["word"] == "chip"
    assert client.get("/similar", params={"word": " "}).status_code == 422
    size = client.get("/vocabulary", params={"prefix": "chi"}).json()["vocabulary_size"]
    unknown = client.get("/similar", params={"word": "chipz"}).json()["detail"]
    assert f"is not in the vocabulary ({size:,} words)" in unknown


# Geometry: within ±2^53 every answer is right; beyond it, a 422 that says why.


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/geometry/iou", {"boxes1": [[0, 0, 1e154, 1e154]], "boxes2": [[0, 0, 1e154, 1e154]]}),
        (
            "/geometry/nms",
            {"boxes": [[0, 0, 1e154, 1e154]] * 2, "scores": [0.9, 0.8], "iou_threshold": 0.5},
        ),
        (
            "/geometry/roi-align",
            {"features": [[[[1.0]]]], "rois": [[0, 0, 0, 1e300, 1e300]], "output_size": [2, 2]},
        ),
    ],
)
def test_numbers_that_would_overflow_are_a_422_not_a_wrong_answer(client, path, body):
    answer = client.post(path, json=body)
    assert answer.status_code == 422
    assert "is beyond ±2^53 (9,007,199,254,740,992)" in answer.json()["detail"]


def test_boxes_at_the_magnitude_limit_are_still_computed_exactly(client):
    edge = float(MAX_MAGNITUDE)
    box = [edge - 4, edge - 4, edge, edge]
    iou = client.post("/geometry/iou", json={"boxes1": [box], "boxes2": [box]})
    assert iou.json() == {"iou": [[1.0]]}
    nms = client.post(
        "/geometry/nms", json={"boxes": [box, box], "scores": [0.9, 0.8], "iou_threshold": 0.5}
    )
    assert nms.json() == {"keep": [0]}


def numeric_leaves(value, path=()):
    """Paths to every number of a JSON document."""
    if isinstance(value, bool):
        return
    if isinstance(value, int | float):
        yield path
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from numeric_leaves(item, (*path, index))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from numeric_leaves(item, (*path, key))


def replaced(document, path, value):
    copy = json.loads(json.dumps(document))
    target = copy
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return copy


def test_every_number_of_every_geometry_example_pushed_to_extremes_is_answered_or_refused(client):
    schema = client.get("/openapi.json").json()
    checked = 0
    for path, operations in schema["paths"].items():
        if not path.startswith("/geometry/"):
            continue
        body_schema = operations["post"]["requestBody"]["content"]["application/json"]["schema"]
        name = body_schema["$ref"].rsplit("/", 1)[1]
        (example,) = schema["components"]["schemas"][name]["examples"][:1]
        for leaf in numeric_leaves(example):
            for value in (1e300, -1e300, 1e154, float(MAX_MAGNITUDE), -1e-300):
                answer = client.post(path, json=replaced(example, leaf, value))
                assert answer.status_code in {200, 422}, (path, leaf, value, answer.text)
                if answer.status_code == 200:
                    assert "Infinity" not in answer.text and "NaN" not in answer.text
                    numbers = json.loads(answer.text, parse_constant=lambda c: math.nan)
                    assert numbers is not None
                checked += 1
    assert checked > 300, "every geometry endpoint's example was pushed"


def test_bodies_arriving_are_bounded_in_bytes_before_and_while_they_arrive(
    make_client, colour_manifest
):
    client = make_client(manifest_path=colour_manifest, max_bytes_arriving=10_000)
    declared = client.post("/geometry/iou", content=b" " * 20_000, headers=JSON)
    assert declared.status_code == 503, "its Content-Length says it would not fit"
    assert "D2L_MAX_BYTES_ARRIVING" in declared.json()["detail"]
    assert declared.headers["Retry-After"] == "1"

    def chunks():
        yield b'{"boxes1": '
        yield b" " * 20_000

    streamed = client.post("/geometry/iou", content=chunks(), headers=JSON)
    assert streamed.status_code == 503, "refused at the chunk that passes the budget"
    assert streamed.headers["connection"] == "close"
    text = client.get("/metrics").text
    assert "d2l_bodies_arriving 0.0" in text and "d2l_body_bytes_arriving 0.0" in text
    small = client.post("/geometry/iou", json={"boxes1": [[0, 0, 1, 1]], "boxes2": []})
    assert small.status_code == 200

"""The /geometry endpoints through the real app: the book's fixtures, contracts, bad inputs."""

from __future__ import annotations

import pytest

from app.schemas.geometry.limits import MAX_BOXES, MAX_IOU_PAIRS, MAX_LISTED_ANCHORS, MAX_NMS_BOXES

BOOK_ANCHOR_REQUEST = {
    "height": 561,
    "width": 728,
    "sizes": [0.75, 0.5, 0.25],
    "ratios": [1, 2, 0.5],
}


@pytest.fixture
def client(module_client):
    """One app for the whole module: these requests change no state."""
    return module_client


def errors(response) -> list[dict]:
    assert response.status_code == 422, response.text
    return response.json()["detail"]


def messages(response) -> str:
    return " | ".join(error["msg"] for error in errors(response))


def test_convert(client):
    response = client.post(
        "/geometry/convert",
        json={"boxes": [[10, 20, 30, 60]], "in_fmt": "xyxy", "out_fmt": "cxcywh"},
    )
    assert response.json() == {"boxes": [[20.0, 40.0, 20.0, 40.0]]}
    back = client.post(
        "/geometry/convert",
        json={"boxes": [[20, 40, 20, 40]], "in_fmt": "cxcywh", "out_fmt": "xywh"},
    )
    assert back.json() == {"boxes": [[10.0, 20.0, 20.0, 40.0]]}


def test_convert_validates_per_format(client):
    negative_width = {"boxes": [[0, 0, -1, 1]], "in_fmt": "xywh", "out_fmt": "xyxy"}
    (error,) = errors(client.post("/geometry/convert", json=negative_width))
    assert error["loc"] == ["body", "boxes"]
    assert "boxes[0]" in error["msg"] and "width and height >= 0" in error["msg"]
    unknown = {"boxes": [], "in_fmt": "yxyx", "out_fmt": "xyxy"}
    assert errors(client.post("/geometry/convert", json=unknown))[0]["loc"] == ["body", "in_fmt"]
    short = {"boxes": [[0, 0, 1]], "in_fmt": "xyxy", "out_fmt": "xyxy"}
    assert "at least 4" in messages(client.post("/geometry/convert", json=short))


def test_iou(client):
    body = {"boxes1": [[0, 0, 2, 2]], "boxes2": [[1, 1, 3, 3], [0, 0, 2, 2], [5, 5, 6, 6]]}
    assert client.post("/geometry/iou", json=body).json() == {"iou": [[1 / 7, 1.0, 0.0]]}
    empty = client.post("/geometry/iou", json={"boxes1": [], "boxes2": [[0, 0, 1, 1]]})
    assert empty.json() == {"iou": []}


def test_iou_names_the_bad_box(client):
    body = {"boxes1": [[0, 0, 1, 1]], "boxes2": [[0, 0, 1, 1], [3, 0, 1, 1]]}
    (error,) = errors(client.post("/geometry/iou", json=body))
    assert error["loc"] == ["body", "boxes2"]
    assert error["msg"].startswith("boxes2[1] = [3.0, 0.0, 1.0, 1.0] is not a valid xyxy box")


def test_iou_pairs_are_capped_before_any_work(client):
    side = int(MAX_IOU_PAIRS**0.5) + 1
    body = {"boxes1": [[0, 0, 1, 1]] * side, "boxes2": [[0, 0, 1, 1]] * side}
    assert "over the cap" in messages(client.post("/geometry/iou", json=body))


def test_nms(client):
    body = {
        "boxes": [[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [0, 0, 10, 10]],
        "scores": [0.8, 0.9, 0.7, 0.6],
        "iou_threshold": 0.5,
    }
    assert client.post("/geometry/nms", json=body).json() == {"keep": [1, 2]}
    per_class = client.post("/geometry/nms", json={**body, "labels": [0, 1, 1, 0]})
    assert per_class.json() == {"keep": [1, 0, 2]}
    empty = client.post("/geometry/nms", json={"boxes": [], "scores": [], "iou_threshold": 0.3})
    assert empty.json() == {"keep": []}


@pytest.mark.parametrize(
    ("change", "where", "text"),
    [
        ({"scores": [0.9]}, ["body", "scores"], "scores must have one value per box"),
        ({"labels": [0]}, ["body", "labels"], "labels must have one value per box"),
        ({"iou_threshold": 1.5}, ["body", "iou_threshold"], "less than or equal to 1"),
        ({"iou_threshold": -0.1}, ["body", "iou_threshold"], "greater than or equal to 0"),
        ({"boxes": [[0, 0, 1, 1], [2, 2, 1, 1]]}, ["body", "boxes"], "boxes[1]"),
    ],
)
def test_nms_bad_inputs(client, change, where, text):
    body = {"boxes": [[0, 0, 1, 1], [0, 0, 2, 2]], "scores": [0.5, 0.6], "iou_threshold": 0.5}
    (error,) = errors(client.post("/geometry/nms", json={**body, **change}))
    assert error["loc"] == where
    assert text in error["msg"]


def test_nms_labels_must_fit_an_int32(client):
    body = {"boxes": [[0, 0, 1, 1]], "scores": [0.5], "iou_threshold": 0.5, "labels": [2**63]}
    (error,) = errors(client.post("/geometry/nms", json=body))
    assert error["loc"] == ["body", "labels", 0]


def test_results_that_overflow_double_precision_are_refused_not_500(client):
    huge = {"boxes": [[-1e308, 0, 1e308, 1]], "in_fmt": "xyxy", "out_fmt": "cxcywh"}
    (error,) = errors(client.post("/geometry/convert", json=huge))
    assert "overflowed" in error["msg"]
    sizes = {"height": 1, "width": 1, "sizes": [1e308], "ratios": [1e300]}
    assert "overflowed" in messages(client.post("/geometry/anchors", json=sizes))
    conv = {"input": [[1e308, 1e308]], "kernel": [[1e308]]}
    assert "overflowed" in messages(client.post("/geometry/conv-transpose", json=conv))


def test_box_count_is_capped(client):
    body = {"boxes": [[0, 0, 1, 1]] * (MAX_BOXES + 1), "in_fmt": "xyxy", "out_fmt": "xywh"}
    assert "at most 50000 items" in messages(client.post("/geometry/convert", json=body))


def test_ops_that_cost_more_than_their_input_have_their_own_caps(client):
    many = [[0, 0, 1, 1]] * (MAX_NMS_BOXES + 1)
    nms = {"boxes": many, "scores": [0.5] * len(many), "iou_threshold": 0.5}
    assert "at most 15000 items" in messages(client.post("/geometry/nms", json=nms))
    detect = {
        "cls_probs": [[0.5] * len(many)] * 2,
        "offset_preds": [[0, 0, 0, 0]] * len(many),
        "anchors": many,
    }
    assert "over the cap of 15,000" in messages(client.post("/geometry/detect", json=detect))
    # 30,000 anchors x 100 boxes: under the pair cap, over the greedy pass's work cap.
    assign = {"anchors": [[0, 0, 0.5, 0.5]] * 30_000, "ground_truth": [[0, 0, 0, 1, 1]] * 100}
    text = messages(client.post("/geometry/assign", json=assign))
    assert "x 100 greedy steps is over the cap of 250,000,000" in text
    side = 1024  # 300 regions of the whole 1024 x 1024 map: 3.6e8 cells to visit
    features = [[[[0.0] * side] * side]]
    pool = {"features": features, "rois": [[0, 0, 0, side, side]] * 300, "output_size": [2, 2]}
    assert "visit" in messages(client.post("/geometry/roi-pool", json=pool))


def test_the_books_anchor_fixture(client):
    body = {**BOOK_ANCHOR_REQUEST, "pixels": [[250, 250], [0, 0]]}
    result = client.post("/geometry/anchors", json=body).json()
    assert result["total"] == 2_042_040
    assert result["per_pixel"] == 5
    assert len(result["anchors"]) == 2 and len(result["anchors"][0]) == 5
    first = result["anchors"][0][0]
    assert [round(value, 2) for value in first] == [0.06, 0.07, 0.63, 0.82]


def test_anchors_listing_in_row_major_order(client):
    body = {"height": 2, "width": 3, "sizes": [0.5], "ratios": [1, 4]}
    result = client.post("/geometry/anchors", json=body).json()
    assert result["total"] == 12 and result["per_pixel"] == 2
    assert len(result["anchors"]) == 12
    # pixel (row 0, col 1), first anchor: centred at ((1 + 0.5) / 3, 0.5 / 2)
    x1, y1, x2, y2 = result["anchors"][2]
    assert (x1 + x2) / 2 == pytest.approx(0.5) and (y1 + y2) / 2 == pytest.approx(0.25)


def test_anchors_full_listing_is_capped_with_advice(client):
    (error,) = errors(client.post("/geometry/anchors", json=BOOK_ANCHOR_REQUEST))
    assert f"over the cap of {MAX_LISTED_ANCHORS:,}" in error["msg"]
    assert "pass `pixels`" in error["msg"]


@pytest.mark.parametrize(
    ("change", "text"),
    [
        ({"pixels": [[561, 0]]}, "pixels[0] = [561, 0] is outside the 561x728 map"),
        ({"pixels": [[-1, 0]]}, "greater than or equal to 0"),
        ({"pixels": [[0, 10**30]]}, "less than 10000"),
        ({"sizes": [0.5, 0]}, "greater than 0"),
        ({"ratios": []}, "at least 1 item"),
        ({"height": 0}, "greater than or equal to 1"),
        ({"width": 10**9}, "less than or equal to 10000"),
    ],
)
def test_anchors_bad_inputs(client, change, text):
    body = {**BOOK_ANCHOR_REQUEST, "pixels": [[0, 0]], **change}
    assert text in messages(client.post("/geometry/anchors", json=body))


BOOK_LABEL_ANCHORS = [
    [0, 0.1, 0.2, 0.3],
    [0.15, 0.2, 0.4, 0.4],
    [0.63, 0.05, 0.88, 0.98],
    [0.66, 0.45, 0.8, 0.8],
    [0.57, 0.3, 0.92, 0.9],
]
BOOK_GROUND_TRUTH = [[0, 0.1, 0.08, 0.52, 0.92], [1, 0.55, 0.2, 0.9, 0.88]]


def test_the_books_assignment_fixture(client):
    body = {"anchors": BOOK_LABEL_ANCHORS, "ground_truth": BOOK_GROUND_TRUTH, "iou_threshold": 0.5}
    result = client.post("/geometry/assign", json=body).json()
    assert result["assigned"] == [-1, 0, 1, -1, 1]
    assert result["labels"] == [0, 1, 2, 0, 2]
    assert result["mask"] == [[0] * 4, [1] * 4, [1] * 4, [0] * 4, [1] * 4]
    expected = [
        [0, 0, 0, 0],
        [1.40, 10.0, 2.59, 7.18],
        [-1.20, 0.269, 1.68, -1.57],
        [0, 0, 0, 0],
        [-0.571, -1.00, 4.17e-06, 0.626],
    ]
    for got, want in zip(result["offsets"], expected, strict=True):
        assert got == pytest.approx(want, abs=0.006)


def test_assignment_of_nothing(client):
    result = client.post("/geometry/assign", json={"anchors": [], "ground_truth": []}).json()
    assert result == {"assigned": [], "labels": [], "offsets": [], "mask": []}
    background = client.post(
        "/geometry/assign", json={"anchors": [[0, 0, 1, 1]], "ground_truth": []}
    ).json()
    assert background["assigned"] == [-1] and background["labels"] == [0]


def test_assignment_bad_inputs(client):
    fractional = {"anchors": BOOK_LABEL_ANCHORS, "ground_truth": [[0.5, 0, 0, 1, 1]]}
    assert "ground_truth[0] has class 0.5" in messages(
        client.post("/geometry/assign", json=fractional)
    )
    huge = {"anchors": BOOK_LABEL_ANCHORS, "ground_truth": [[1e300, 0, 0, 1, 1]]}
    assert "a class is an integer in [0, 2147483648)" in messages(
        client.post("/geometry/assign", json=huge)
    )
    flipped = {"anchors": BOOK_LABEL_ANCHORS, "ground_truth": [[0, 1, 0, 0, 1]]}
    (error,) = errors(client.post("/geometry/assign", json=flipped))
    assert error["loc"] == ["body", "ground_truth"] and "ground_truth[0]" in error["msg"]


def test_offsets_round_trip(client):
    anchors = [[0.1, 0.1, 0.5, 0.5], [0.2, 0.3, 0.4, 0.9]]
    boxes = [[0.2, 0.1, 0.6, 0.7], [0.0, 0.0, 1.0, 1.0]]
    offsets = client.post(
        "/geometry/offsets/encode", json={"anchors": anchors, "boxes": boxes}
    ).json()
    assert offsets["offsets"][0] == pytest.approx([2.5, 2.5, 0.0, 2.0273], abs=1e-4)
    decoded = client.post("/geometry/offsets/decode", json={"anchors": anchors, **offsets}).json()[
        "boxes"
    ]
    for got, want in zip(decoded, boxes, strict=True):
        assert got == pytest.approx(want, abs=1e-5)


def test_offsets_bad_inputs(client):
    flat_anchor = {"anchors": [[0, 0, 0, 1]], "boxes": [[0, 0, 1, 1]]}
    (error,) = errors(client.post("/geometry/offsets/encode", json=flat_anchor))
    assert error["loc"] == ["body", "anchors"] and "x1 < x2 and y1 < y2" in error["msg"]
    mismatched = {"anchors": [[0, 0, 1, 1]], "boxes": []}
    assert "one row per anchor" in messages(
        client.post("/geometry/offsets/encode", json=mismatched)
    )
    overflow = {"anchors": [[0, 0, 1, 1]], "offsets": [[0, 0, 5000, 0]]}
    (error,) = errors(client.post("/geometry/offsets/decode", json=overflow))
    assert "overflowed" in error["msg"]


DETECT_BODY = {
    "cls_probs": [[0, 0, 0, 0], [0.9, 0.8, 0.7, 0.1], [0.1, 0.2, 0.3, 0.9]],
    "offset_preds": [[0, 0, 0, 0]] * 4,
    "anchors": [
        [0.1, 0.08, 0.52, 0.92],
        [0.08, 0.2, 0.56, 0.95],
        [0.15, 0.3, 0.62, 0.91],
        [0.55, 0.2, 0.9, 0.88],
    ],
}


def test_the_books_detection_fixture(client):
    result = client.post("/geometry/detect", json={**DETECT_BODY, "nms_threshold": 0.5}).json()
    expected = [
        [0, 0.9, 0.1, 0.08, 0.52, 0.92],
        [1, 0.9, 0.55, 0.2, 0.9, 0.88],
        [-1, 0.8, 0.08, 0.2, 0.56, 0.95],
        [-1, 0.7, 0.15, 0.3, 0.62, 0.91],
    ]
    for got, want in zip(result["detections"], expected, strict=True):
        assert got == pytest.approx(want)


def test_detection_honours_its_thresholds(client):
    loose = client.post("/geometry/detect", json={**DETECT_BODY, "nms_threshold": 0.95}).json()
    assert [row[0] for row in loose["detections"]] == [0, 1, 0, 0]
    strict = client.post("/geometry/detect", json={**DETECT_BODY, "pos_threshold": 0.85}).json()
    rows = strict["detections"]
    assert [row[0] for row in rows] == [0, 1, -1, -1]


def test_detection_bad_inputs(client):
    ragged = {**DETECT_BODY, "cls_probs": [[0, 0, 0, 0], [0.9, 0.8, 0.7]]}
    assert "cls_probs[1] has 3 values" in messages(client.post("/geometry/detect", json=ragged))
    not_probability = {**DETECT_BODY, "cls_probs": [[0, 0, 0, 0], [1.5, 0.8, 0.7, 0.1]]}
    assert errors(client.post("/geometry/detect", json=not_probability))[0]["loc"][:2] == [
        "body",
        "cls_probs",
    ]
    one_row = {**DETECT_BODY, "cls_probs": [[0, 0, 0, 0]]}
    assert "background row and at least one class row" in messages(
        client.post("/geometry/detect", json=one_row)
    )


BOOK_FEATURES = [[[[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15]]]]
BOOK_ROIS = [[0, 0, 0, 20, 20], [0, 0, 10, 30, 30]]


def test_the_books_roi_pool_fixture(client):
    body = {
        "features": BOOK_FEATURES,
        "rois": BOOK_ROIS,
        "output_size": [2, 2],
        "spatial_scale": 0.1,
    }
    result = client.post("/geometry/roi-pool", json=body).json()
    assert result == {"output": [[[[5, 6], [9, 10]]], [[[9, 11], [13, 15]]]]}


def test_roi_align(client):
    body = {"features": BOOK_FEATURES, "rois": [[0, 0, 0, 3, 3]], "output_size": [1, 1]}
    result = client.post("/geometry/roi-align", json={**body, "sampling_ratio": 1}).json()
    assert result == {"output": [[[[7.5]]]]}  # one bilinear sample at (1.5, 1.5)
    aligned = client.post(
        "/geometry/roi-align", json={**body, "sampling_ratio": 1, "aligned": True}
    )
    assert aligned.json() == {"output": [[[[5.0]]]]}  # at (1, 1) once shifted by half a pixel


@pytest.mark.parametrize(
    ("change", "text"),
    [
        ({"rois": [[1, 0, 0, 20, 20]]}, "rois[0] has batch_index 1"),
        ({"rois": [[0.5, 0, 0, 20, 20]]}, "batch_index 0.5"),
        ({"rois": [[0, 20, 0, 0, 20]]}, "rois[0] = [20.0, 0.0, 0.0, 20.0] is not a valid xyxy box"),
        ({"features": [[[[0, 1], [2]]]]}, "rectangular"),
        ({"features": []}, "must not be empty"),
        ({"output_size": [0, 2]}, "greater than or equal to 1"),
        ({"spatial_scale": 0}, "greater than 0"),
        ({"sampling_ratio": 2}, "Unknown field 'sampling_ratio'"),
    ],
)
def test_roi_pool_bad_inputs(client, change, text):
    body = {"features": BOOK_FEATURES, "rois": BOOK_ROIS, "output_size": [2, 2], **change}
    assert text in messages(client.post("/geometry/roi-pool", json=body))


def test_the_books_transposed_convolution_fixtures(client):
    x = [[0, 1], [2, 3]]
    plain = client.post("/geometry/conv-transpose", json={"input": x, "kernel": x})
    assert plain.json() == {"output": [[0, 0, 1], [0, 4, 6], [4, 12, 9]]}
    padded = client.post("/geometry/conv-transpose", json={"input": x, "kernel": x, "padding": 1})
    assert padded.json() == {"output": [[4]]}
    strided = client.post("/geometry/conv-transpose", json={"input": x, "kernel": x, "stride": 2})
    assert strided.json() == {"output": [[0, 0, 0, 1], [0, 0, 2, 3], [0, 2, 0, 3], [4, 6, 6, 9]]}


def test_conv_transpose_keeps_the_rank_of_the_input(client):
    kernel = [[[[0, 1], [2, 3]], [[1, 0], [0, 0]]]]  # 1 input channel, 2 output channels
    three = client.post(
        "/geometry/conv-transpose", json={"input": [[[0, 1], [2, 3]]], "kernel": kernel}
    )
    assert three.json() == {
        "output": [[[0, 0, 1], [0, 4, 6], [4, 12, 9]], [[0, 1, 0], [2, 3, 0], [0, 0, 0]]]
    }
    four = client.post(
        "/geometry/conv-transpose", json={"input": [[[[0, 1], [2, 3]]]], "kernel": kernel}
    )
    assert four.json() == {"output": [three.json()["output"]]}


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ({"input": [[0, 1], [2]], "kernel": [[1]]}, "rectangular"),
        ({"input": "x", "kernel": [[1]]}, "input must be a 2-D, 3-D or 4-D array of numbers"),
        ({"input": [[[0, 1]]], "kernel": [[1]]}, "a 2-D input takes a 2-D kernel"),
        ({"input": [[[0, 1]]], "kernel": [[[[1]]], [[[1]]]]}, "must equal the input channels"),
        ({"input": [[0, 1], [2, 3]], "kernel": [[1]], "padding": 1}, "padding 1 is too large"),
        ({"input": [[0, 1], [2, 3]], "kernel": [[1]], "stride": 0}, "greater than or equal to 1"),
        ({"input": [[0.0] * 1100] * 1000, "kernel": [[1]]}, "over the cap of 1,048,576"),
        ({"input": [[0.0] * 64] * 64, "kernel": [[1]], "stride": 64}, "the output would hold"),
        (
            {"input": [[0.0] * 128] * 129, "kernel": [[0.0] * 256] * 256},
            "multiply-adds (input values x output channels x kernel size), over the cap of "
            "1,073,741,824",
        ),
        ({"input": [[0, 1]], "kernel": [[0, "a"]]}, "kernel[0][1]"),
    ],
)
def test_conv_transpose_bad_inputs(client, body, text):
    assert text in messages(client.post("/geometry/conv-transpose", json=body))


def test_every_endpoint_is_documented_for_client_generation(client):
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    operations = [
        (path, method, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
    ]
    assert len([path for path, _, _ in operations if path.startswith("/geometry/")]) == 11
    for path, method, operation in operations:
        assert operation.get("summary"), f"{method} {path} has no summary"
        content_types = operation["responses"]["200"]["content"]
        if path == "/metrics":  # Prometheus' text format, not JSON
            assert [t.split(";")[0] for t in content_types] == ["text/plain"]
            continue
        success = content_types["application/json"]["schema"]
        assert "$ref" in success, f"{method} {path} has no response model"
        content = operation.get("requestBody", {}).get("content", {})
        if "application/json" in content:
            ref = content["application/json"]["schema"]["$ref"]
            schema = schemas[ref.rsplit("/", 1)[-1]]
            assert schema.get("examples"), f"{method} {path} has no request example"
        elif "multipart/form-data" in content:  # uploads: the file field is declared binary
            ref = content["multipart/form-data"]["schema"]["$ref"]
            field = schemas[ref.rsplit("/", 1)[-1]]["properties"]["file"]
            assert "binary" in str(field) or "contentMediaType" in str(field), field


UNIT = [0.1, 0.1, 0.5, 0.5]
FEATURES = [[[[0.0, 1.0], [2.0, 3.0]]]]


@pytest.mark.parametrize(
    ("path", "body", "text"),
    [
        ("/geometry/anchors", {"height": 2, "width": 2, "sizes": [0.5] * 17, "ratios": [1]},
         "at most 16 items"),
        ("/geometry/anchors", {"height": 2, "width": 2, "sizes": [0.5], "ratios": [1.0] * 17},
         "at most 16 items"),
        ("/geometry/anchors", {"height": 10_001, "width": 2, "sizes": [0.5], "ratios": [1]},
         "less than or equal to 10000"),
        ("/geometry/anchors",
         {"height": 2, "width": 2, "sizes": [0.5], "ratios": [1], "pixels": [[0, 0]] * 1001},
         "at most 1000 items"),
        ("/geometry/assign", {"anchors": [UNIT], "ground_truth": [[0, *UNIT]] * 1001},
         "at most 1000 items"),
        ("/geometry/assign", {"anchors": [UNIT] * 5001, "ground_truth": [[0, *UNIT]] * 1000},
         "over the cap of 5,000,000 pairs"),
        ("/geometry/detect",
         {"cls_probs": [[0.5]] * 1002, "offset_preds": [[0, 0, 0, 0]], "anchors": [UNIT]},
         "at most 1001 items"),
        ("/geometry/detect",
         {"cls_probs": [[0.5] * 10_000] * 101, "offset_preds": [[0, 0, 0, 0]] * 10_000,
          "anchors": [UNIT] * 10_000},
         "over the cap of 1,000,000"),
        ("/geometry/roi-pool",
         {"features": [[[[0.0] * 1025] * 1024]], "rois": [[0, 0, 0, 1, 1]],
          "output_size": [1, 1]},
         "over the cap of 1,048,576"),
        ("/geometry/roi-pool",
         {"features": FEATURES, "rois": [[0, 0, 0, 1, 1]] * 1001, "output_size": [1, 1]},
         "at most 1000 items"),
        ("/geometry/roi-align",
         {"features": FEATURES, "rois": [[0, 0, 0, 1, 1]], "output_size": [65, 1]},
         "less than or equal to 64"),
        ("/geometry/roi-align",
         {"features": FEATURES, "rois": [[0, 0, 0, 10**7, 10**7]], "output_size": [1, 1]},
         "bilinear samples, over the limit of 16,777,216"),
        ("/geometry/roi-pool",
         {"features": [[[[0.0] * 64] * 64]], "rois": [[0, 0, 0, 63, 63]] * 257,
          "output_size": [64, 64]},
         "the output would hold"),
        ("/geometry/conv-transpose", {"input": [[0, 1]], "kernel": [[0.0] * 257] * 256},
         "over the cap of 65,536"),
        ("/geometry/conv-transpose", {"input": [[0, 1]], "kernel": [[1]], "stride": 65},
         "less than or equal to 64"),
        ("/geometry/conv-transpose", {"input": [[0, 1]], "kernel": [[1]], "padding": 1025},
         "less than or equal to 1024"),
    ],
)  # fmt: skip
def test_every_cap_of_the_limits_table_is_refused_over_http_naming_it(client, path, body, text):
    answer = client.post(path, json=body)
    assert answer.status_code == 422
    assert text in messages(answer)

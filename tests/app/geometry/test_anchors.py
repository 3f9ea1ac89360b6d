"""/geometry/anchors, /assign, /offsets and /detect through the real app: the book's fixtures,
contracts, bad inputs."""

from __future__ import annotations

import pytest

from app.schemas.geometry.limits import MAX_LISTED_ANCHORS
from tests.app.geometry.helpers import errors, messages

BOOK_ANCHOR_REQUEST = {
    "height": 561,
    "width": 728,
    "sizes": [0.75, 0.5, 0.25],
    "ratios": [1, 2, 0.5],
}


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
    huge = {"anchors": BOOK_LABEL_ANCHORS, "ground_truth": [[3e9, 0, 0, 1, 1]]}
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

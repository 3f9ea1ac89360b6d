"""/geometry/convert, /iou and /nms through the real app: the book's fixtures, contracts, bad
inputs, caps."""

from __future__ import annotations

import pytest

from app.schemas.geometry.limits import MAX_BOXES, MAX_IOU_PAIRS, MAX_NMS_BOXES
from tests.app.geometry.helpers import errors, messages


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


def test_inputs_beyond_2_53_and_results_that_overflow_are_refused_not_500(client):
    huge = {"boxes": [[-1e308, 0, 1e308, 1]], "in_fmt": "xyxy", "out_fmt": "cxcywh"}
    (error, _) = errors(client.post("/geometry/convert", json=huge))
    assert error["loc"] == ["body", "boxes", 0, 0]
    assert "-1e+308 is beyond ±2^53" in error["msg"]
    sizes = {"height": 1, "width": 1, "sizes": [1e308], "ratios": [1e300]}
    assert "is beyond ±2^53" in messages(client.post("/geometry/anchors", json=sizes))
    conv = {"input": [[1e308, 1e308]], "kernel": [[1e308]]}
    assert "is beyond ±2^53" in messages(client.post("/geometry/conv-transpose", json=conv))
    # Within the bound, a result can still overflow: exp() of a large offset.
    decode = {"anchors": [[0, 0, 1, 1]], "offsets": [[0, 0, 1e5, 1e5]]}
    assert "overflowed" in messages(client.post("/geometry/offsets/decode", json=decode))


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

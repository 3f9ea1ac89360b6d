from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from models.errors import InvalidInputError
from models.ops import box_iou, check_boxes, convert_boxes, nms
from tests.models import d2l_reference as d2l
from tests.models.strategies import boxes, distinct_scores


@given(boxes())
def test_convert_matches_the_books_formulas(xyxy):
    center = convert_boxes(xyxy, "xyxy", "cxcywh")
    torch.testing.assert_close(center, d2l.box_corner_to_center(xyxy))
    torch.testing.assert_close(convert_boxes(center, "cxcywh", "xyxy"), xyxy)
    corner_size = convert_boxes(xyxy, "xyxy", "xywh")
    torch.testing.assert_close(corner_size[:, :2], xyxy[:, :2])
    torch.testing.assert_close(corner_size[:, 2:], xyxy[:, 2:] - xyxy[:, :2])


@given(
    boxes(),
    st.sampled_from(["xyxy", "xywh", "cxcywh"]),
    st.sampled_from(["xyxy", "xywh", "cxcywh"]),
)
def test_convert_round_trips_between_any_formats(xyxy, middle, last):
    there = convert_boxes(convert_boxes(xyxy, "xyxy", middle), middle, last)
    torch.testing.assert_close(convert_boxes(there, last, "xyxy"), xyxy)


def test_convert_refuses_an_unknown_format():
    with pytest.raises(InvalidInputError, match="in_fmt must be one of xyxy, xywh, cxcywh"):
        convert_boxes(torch.zeros(1, 4), "xxyy", "xyxy")


@given(boxes(), boxes())
def test_iou_matches_the_books_box_iou(first, second):
    torch.testing.assert_close(box_iou(first, second), d2l.box_iou(first, second))


@given(boxes(empty=True), boxes(empty=True))
def test_iou_is_in_unit_interval_and_empty_boxes_give_zero_not_nan(first, second):
    iou = box_iou(first, second)
    assert iou.shape == (first.shape[0], second.shape[0])
    assert bool(((iou >= 0) & (iou <= 1)).all())
    empty = torch.tensor([[1.0, 1.0, 1.0, 3.0]], dtype=torch.float64)
    assert box_iou(empty, empty).item() == 0.0


@given(
    boxes(min_size=1, max_size=40).flatmap(
        lambda b: st.tuples(st.just(b), distinct_scores(len(b)))
    ),
    st.floats(0.0, 1.0),
)
def test_nms_matches_the_books_greedy_nms(boxes_scores, threshold):
    candidates, scores = boxes_scores
    keep = nms(candidates, scores, threshold)
    assert keep.tolist() == d2l.nms(candidates, scores, threshold).tolist()
    assert bool((scores[keep][:-1] >= scores[keep][1:]).all()), "keep is by decreasing score"


@given(
    boxes(min_size=1, max_size=40).flatmap(
        lambda b: st.tuples(
            st.just(b),
            distinct_scores(len(b)),
            st.lists(st.integers(0, 3), min_size=len(b), max_size=len(b)),
        )
    ),
    st.floats(0.0, 1.0),
)
def test_nms_with_labels_suppresses_only_within_a_class(case, threshold):
    candidates, scores, labels = case
    labels = torch.tensor(labels)
    keep = nms(candidates, scores, threshold, labels)
    expected = []
    for label in labels.unique():
        members = (labels == label).nonzero().flatten()
        expected += members[d2l.nms(candidates[members], scores[members], threshold)].tolist()
    assert sorted(keep.tolist()) == sorted(expected)
    assert bool((scores[keep][:-1] >= scores[keep][1:]).all())


def test_nms_with_labels_keeps_classes_apart_with_negative_coordinates():
    # torchvision's batched_nms alone would shift box 1 (class 1) onto box 0 and suppress it.
    boxes = torch.tensor(
        [[37.0, 37.0, 97.0, 97.0], [-2.0, -15.0, -1.0, -14.0]], dtype=torch.float64
    )
    keep = nms(boxes, torch.tensor([0.25, 0.75], dtype=torch.float64), 0.0, torch.tensor([0, 1]))
    assert keep.tolist() == [1, 0]


def test_nms_with_labels_sees_the_slightest_overlap_wherever_the_boxes_are():
    # Box 1 overlaps box 0 by 1e-16 px; shifting both by +1 (as batched_nms's offsets would
    # after moving the boxes to non-negative coordinates) rounds the overlap away.
    boxes = torch.tensor(
        [[1.0, 0.5, 2.0, 1.5], [1.0, 0.0, 2.0, 0.5000000000000001], [0.0, -1.0, 1.0, 0.0]],
        dtype=torch.float64,
    )
    scores = torch.tensor([0.5, 0.9, 0.1], dtype=torch.float64)
    keep = nms(boxes, scores, 0.0, torch.tensor([0, 0, 0]))
    assert keep.tolist() == nms(boxes, scores, 0.0).tolist() == [1, 2]


def test_nms_of_nothing_keeps_nothing():
    assert nms(torch.zeros(0, 4), torch.zeros(0), 0.5).tolist() == []
    assert (
        nms(torch.zeros(0, 4), torch.zeros(0), 0.5, torch.zeros(0, dtype=torch.long)).tolist() == []
    )


def test_nms_refuses_mismatched_scores_and_bad_thresholds():
    with pytest.raises(InvalidInputError, match="scores must have one value per box"):
        nms(torch.zeros(3, 4), torch.zeros(2), 0.5)
    with pytest.raises(InvalidInputError, match=r"iou_threshold must be in \[0, 1\], got 1.5"):
        nms(torch.zeros(3, 4), torch.zeros(3), 1.5)
    with pytest.raises(InvalidInputError, match="labels must have one value per box"):
        nms(torch.zeros(3, 4), torch.zeros(3), 0.5, torch.zeros(1, dtype=torch.long))


def test_check_boxes_names_the_first_bad_box():
    good = torch.tensor([[0.0, 0.0, 1.0, 1.0], [2.0, 2.0, 2.0, 3.0]])
    check_boxes(good)
    with pytest.raises(
        InvalidInputError, match=r"anchors\[1\] = \[2.0, 2.0, 2.0, 3.0\] .* x1 < x2"
    ):
        check_boxes(good, "anchors", allow_empty=False)
    flipped = torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0], [5.0, 0.0, 1.0, 1.0]])
    with pytest.raises(
        InvalidInputError, match=r"boxes\[2\] = \[5.0, 0.0, 1.0, 1.0\] is not a valid xyxy box"
    ):
        check_boxes(flipped)
    with pytest.raises(InvalidInputError, match=r"boxes\[0\] has a non-finite coordinate"):
        check_boxes(torch.tensor([[0.0, float("nan"), 1.0, 1.0]]))
    with pytest.raises(InvalidInputError, match=r"must have shape \[N, 4\], got \[2, 3\]"):
        check_boxes(torch.zeros(2, 3))
    with pytest.raises(InvalidInputError, match="width and height >= 0"):
        check_boxes(torch.tensor([[0.0, 0.0, -1.0, 1.0]]), fmt="xywh")

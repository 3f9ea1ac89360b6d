from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from models.errors import InvalidInputError
from models.ops import (
    assign_anchors,
    decode_offsets,
    encode_offsets,
    multibox_detection,
    multibox_nms,
    multibox_prior,
    multibox_prior_at,
    multibox_target,
)
from tests.models import d2l_reference as d2l
from tests.models.strategies import unit_boxes

sizes_st = st.lists(st.floats(0.05, 1.0), min_size=1, max_size=4)
ratios_st = st.lists(st.floats(0.25, 4.0), min_size=1, max_size=4)

# The book's examples (section "Anchor Boxes").
BOOK_GROUND_TRUTH = torch.tensor([[0, 0.1, 0.08, 0.52, 0.92], [1, 0.55, 0.2, 0.9, 0.88]])
BOOK_ANCHORS = torch.tensor(
    [
        [0, 0.1, 0.2, 0.3],
        [0.15, 0.2, 0.4, 0.4],
        [0.63, 0.05, 0.88, 0.98],
        [0.66, 0.45, 0.8, 0.8],
        [0.57, 0.3, 0.92, 0.9],
    ]
)


def test_the_books_anchor_fixture():
    anchors = multibox_prior(561, 728, [0.75, 0.5, 0.25], [1, 2, 0.5])
    assert anchors.shape == (2_042_040, 4)
    first = anchors.reshape(561, 728, 5, 4)[250, 250, 0]
    torch.testing.assert_close(first, torch.tensor([0.06, 0.07, 0.63, 0.82]), atol=0.005, rtol=0)


@given(st.integers(1, 12), st.integers(1, 12), sizes_st, ratios_st)
def test_prior_matches_the_books_multibox_prior(height, width, sizes, ratios):
    ours = multibox_prior(height, width, sizes, ratios)
    book = d2l.multibox_prior(torch.zeros(1, 3, height, width), sizes, ratios)[0]
    torch.testing.assert_close(ours, book)


@given(st.integers(1, 12), st.integers(1, 12), sizes_st, ratios_st, st.data())
def test_prior_at_pixels_equals_the_full_map_at_those_pixels(height, width, sizes, ratios, data):
    count = data.draw(st.integers(0, 6))
    rows = data.draw(st.lists(st.integers(0, height - 1), min_size=count, max_size=count))
    cols = data.draw(st.lists(st.integers(0, width - 1), min_size=count, max_size=count))
    pixels = torch.tensor(list(zip(rows, cols, strict=True)), dtype=torch.long).reshape(-1, 2)
    per_pixel = len(sizes) + len(ratios) - 1
    full = multibox_prior(height, width, sizes, ratios).reshape(height, width, per_pixel, 4)
    at = multibox_prior_at(height, width, sizes, ratios, pixels)
    torch.testing.assert_close(at, full[pixels[:, 0], pixels[:, 1]])


def test_prior_refuses_bad_arguments():
    with pytest.raises(InvalidInputError, match="sizes must be positive"):
        multibox_prior(4, 4, [0.5, -1.0], [1.0])
    with pytest.raises(InvalidInputError, match="ratios must be positive"):
        multibox_prior(4, 4, [0.5], [0.0])
    with pytest.raises(InvalidInputError, match="at least one value"):
        multibox_prior(4, 4, [], [1.0])
    with pytest.raises(InvalidInputError, match=r"pixels\[1\] = \[0, 4\] is outside the 4x4 map"):
        multibox_prior_at(4, 4, [0.5], [1.0], torch.tensor([[0, 0], [0, 4]]))


def test_the_books_labelling_fixture():
    offsets, mask, classes, assigned = multibox_target(BOOK_ANCHORS, BOOK_GROUND_TRUTH.unsqueeze(0))
    assert classes.tolist() == [[0, 1, 2, 0, 2]]
    assert assigned.tolist() == [[-1, 0, 1, -1, 1]]
    assert mask.reshape(-1).tolist() == [0] * 4 + [1] * 8 + [0] * 4 + [1] * 4
    expected = [0, 0, 0, 0, 1.40, 10.0, 2.59, 7.18, -1.20, 0.269, 1.68, -1.57]
    expected += [0, 0, 0, 0, -0.571, -1.00, 4.17e-06, 0.626]
    torch.testing.assert_close(offsets.reshape(-1), torch.tensor(expected), atol=0.006, rtol=0)


def test_without_ground_truth_every_anchor_is_background():
    offsets, mask, classes, assigned = multibox_target(BOOK_ANCHORS, torch.zeros(2, 0, 5))
    assert classes.tolist() == [[0] * 5] * 2 and assigned.tolist() == [[-1] * 5] * 2
    assert not offsets.any() and not mask.any()
    assert assign_anchors(BOOK_ANCHORS, torch.zeros(0, 4)).tolist() == [-1] * 5
    no_anchors = multibox_target(torch.zeros(0, 4), BOOK_GROUND_TRUTH.unsqueeze(0))
    assert no_anchors.classes.shape == (1, 0)


@given(unit_boxes(1, 25), unit_boxes(1, 6), st.floats(0.0, 1.0))
def test_assign_matches_the_books_assign_anchor_to_bbox(anchors, ground_truth, threshold):
    ours = assign_anchors(anchors, ground_truth, threshold)
    book = d2l.assign_anchor_to_bbox(ground_truth, anchors, "cpu", threshold)
    if ground_truth.shape[0] <= anchors.shape[0]:
        assert ours.tolist() == book.tolist()
    # Each box claims its own anchor, however low the IoU, while anchors last.
    claimed = set(ours[ours >= 0].tolist())
    assert len(claimed) == min(ground_truth.shape[0], anchors.shape[0])


# At least as many anchors as boxes: with more boxes than anchors the book's greedy loop goes on
# past the last free anchor and re-assigns a taken one (ours stops there).
@given(unit_boxes(4, 25), st.lists(unit_boxes(1, 4), min_size=1, max_size=3), st.data())
def test_batched_targets_with_padding_match_the_book_image_by_image(anchors, images, data):
    most = max(len(boxes) for boxes in images)
    labels = torch.full((len(images), most, 5), -1.0, dtype=torch.float64)
    for index, boxes in enumerate(images):
        classes = data.draw(st.lists(st.integers(0, 3), min_size=len(boxes), max_size=len(boxes)))
        labels[index, : len(boxes), 0] = torch.tensor(classes, dtype=torch.float64)
        labels[index, : len(boxes), 1:] = boxes
    offsets, mask, classes, _ = multibox_target(anchors, labels)
    for index, boxes in enumerate(images):
        book_offsets, book_mask, book_classes = d2l.multibox_target(
            anchors.unsqueeze(0), labels[index : index + 1, : len(boxes)]
        )
        torch.testing.assert_close(offsets[index].reshape(-1), book_offsets[0])
        torch.testing.assert_close(mask[index].reshape(-1), book_mask[0].to(mask.dtype))
        assert classes[index].tolist() == book_classes[0].tolist()


@given(unit_boxes(1, 30).flatmap(lambda a: st.tuples(st.just(a), unit_boxes(len(a), len(a)))))
def test_offsets_match_the_book_and_decode_inverts_encode(pair):
    anchors, boxes = pair
    offsets = encode_offsets(anchors, boxes)
    torch.testing.assert_close(offsets, d2l.offset_boxes(anchors, boxes))
    torch.testing.assert_close(
        decode_offsets(anchors, offsets), d2l.offset_inverse(anchors, offsets)
    )
    # d2l's eps inside the log shifts widths by eps * anchor width: exact up to that.
    torch.testing.assert_close(decode_offsets(anchors, offsets), boxes, atol=1e-5, rtol=0)
    torch.testing.assert_close(
        decode_offsets(anchors, encode_offsets(anchors, boxes, eps=0.0)), boxes
    )


def test_the_books_detection_fixture():
    anchors = torch.tensor(
        [
            [0.1, 0.08, 0.52, 0.92],
            [0.08, 0.2, 0.56, 0.95],
            [0.15, 0.3, 0.62, 0.91],
            [0.55, 0.2, 0.9, 0.88],
        ]
    )
    cls_probs = torch.tensor([[0] * 4, [0.9, 0.8, 0.7, 0.1], [0.1, 0.2, 0.3, 0.9]])
    output = multibox_detection(
        cls_probs.unsqueeze(0), torch.zeros(1, 16), anchors, nms_threshold=0.5
    )
    expected = [
        [0, 0.9, 0.1, 0.08, 0.52, 0.92],
        [1, 0.9, 0.55, 0.2, 0.9, 0.88],
        [-1, 0.8, 0.08, 0.2, 0.56, 0.95],
        [-1, 0.7, 0.15, 0.3, 0.62, 0.91],
    ]
    torch.testing.assert_close(output[0], torch.tensor(expected))


def test_detection_honours_nms_threshold():
    anchors = torch.tensor([[0.1, 0.08, 0.52, 0.92], [0.08, 0.2, 0.56, 0.95]])
    cls_probs = torch.tensor([[[0.1, 0.2], [0.9, 0.8]]])
    suppressed = multibox_detection(cls_probs, torch.zeros(1, 8), anchors, nms_threshold=0.5)
    kept = multibox_detection(cls_probs, torch.zeros(1, 8), anchors, nms_threshold=0.9)
    assert suppressed[0, :, 0].tolist() == [0, -1]
    assert kept[0, :, 0].tolist() == [0, 0]


@st.composite
def detection_case(draw):
    """Distinct confidences within each image, so the order of the rows is defined."""
    anchors = draw(unit_boxes(1, 25))
    num_anchors = anchors.shape[0]
    batch, num_classes = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    cls_probs = torch.zeros(batch, num_classes + 1, num_anchors, dtype=torch.float64)
    for image in range(batch):
        conf = draw(
            st.lists(st.floats(0.001, 1.0), min_size=num_anchors, max_size=num_anchors, unique=True)
        )
        winner = draw(
            st.lists(st.integers(1, num_classes), min_size=num_anchors, max_size=num_anchors)
        )
        share = draw(st.lists(st.floats(0.0, 0.99), min_size=num_anchors, max_size=num_anchors))
        for anchor in range(num_anchors):
            cls_probs[image, 1:, anchor] = conf[anchor] * share[anchor]
            cls_probs[image, winner[anchor], anchor] = conf[anchor]
            cls_probs[image, 0, anchor] = 1 - conf[anchor]
    offsets = torch.tensor(
        draw(
            st.lists(
                st.floats(-2, 2), min_size=batch * num_anchors * 4, max_size=batch * num_anchors * 4
            )
        ),
        dtype=torch.float64,
    ).reshape(batch, num_anchors * 4)
    return cls_probs, offsets, anchors


@given(detection_case(), st.floats(0.0, 1.0), st.floats(0.0, 0.5))
def test_detection_matches_the_books_rows_and_order(case, nms_threshold, pos_threshold):
    cls_probs, offsets, anchors = case
    ours = multibox_detection(cls_probs, offsets, anchors, nms_threshold, pos_threshold)
    book = d2l.multibox_detection(
        cls_probs.clone(), offsets, anchors.unsqueeze(0), nms_threshold, pos_threshold
    )
    torch.testing.assert_close(ours, book)


def test_detection_refuses_mismatched_shapes():
    anchors = torch.tensor([[0.1, 0.1, 0.5, 0.5]])
    with pytest.raises(InvalidInputError, match="offset_preds must hold 4 offsets per anchor"):
        multibox_detection(torch.ones(1, 2, 1), torch.zeros(1, 8), anchors)
    with pytest.raises(InvalidInputError, match="cls_probs must have shape"):
        multibox_detection(torch.ones(1, 2, 3), torch.zeros(1, 4), anchors)
    with pytest.raises(InvalidInputError, match=r"pos_threshold must be in \[0, 1\]"):
        multibox_detection(torch.ones(1, 2, 1), torch.zeros(1, 4), anchors, pos_threshold=2.0)


def test_multibox_nms_suppresses_within_a_class_and_image_only():
    anchors = torch.tensor([[0.1, 0.1, 0.5, 0.5], [0.12, 0.1, 0.52, 0.5], [0.6, 0.6, 0.9, 0.9]])
    # image 0: anchors 0 and 1 overlap; class 1 on anchor 0 and 1, class 2 on anchor 1.
    probs = torch.tensor(
        [
            [[0.1, 0.9, 0.0], [0.1, 0.6, 0.7], [0.95, 0.03, 0.02]],
            [[0.0, 0.8, 0.2], [0.0, 0.7, 0.3], [0.0, 0.2, 0.8]],
        ]
    )
    found = multibox_nms(probs, torch.zeros(2, 3, 4), anchors, 0.5, 0.5, 100)
    assert found[0].labels.tolist() == [0, 1]  # class 1 on anchor 0; class 2 on anchor 1 survives
    assert found[0].scores.tolist() == pytest.approx([0.9, 0.7])
    torch.testing.assert_close(found[0].boxes, anchors[[0, 1]])
    assert found[1].labels.tolist() == [0, 1] and found[1].scores.tolist() == pytest.approx(
        [0.8, 0.8]
    )
    capped = multibox_nms(probs, torch.zeros(2, 3, 4), anchors, 0.5, 0.5, max_detections=1)
    assert [len(d.scores) for d in capped] == [1, 1]
    assert [len(d.scores) for d in multibox_nms(probs, torch.zeros(2, 3, 4), anchors, 0.99)] == [
        0,
        0,
    ]


@given(detection_case(), st.floats(0.0, 0.9), st.floats(0.1, 1.0))
def test_multibox_nms_matches_a_loop_over_images_and_classes(case, score_threshold, iou_threshold):
    cls_probs, offsets, anchors = case
    probs = cls_probs.permute(0, 2, 1)  # [B, A, C + 1]
    found = multibox_nms(probs, offsets, anchors, score_threshold, iou_threshold, 1000)
    boxes = decode_offsets(anchors.unsqueeze(0), offsets.reshape(len(probs), -1, 4))
    for image, detections in enumerate(found):
        expected = []
        for label in range(probs.shape[2] - 1):
            scores = probs[image, :, label + 1]
            candidates = (scores > score_threshold).nonzero().flatten()
            keep = d2l.nms(boxes[image, candidates], scores[candidates], iou_threshold)
            expected += [(label, round(float(scores[candidates[k]]), 9)) for k in keep]
        pairs = zip(detections.labels, detections.scores, strict=True)
        got = [(int(label), round(float(score), 9)) for label, score in pairs]
        assert sorted(got) == sorted(expected)
        assert detections.scores.tolist() == sorted(detections.scores.tolist(), reverse=True)

"""Tiled inference for large photos: the views cover the image, boxes come back in its pixels,
pieces at cuts are dropped and duplicates merged."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from models.vision.detection.base import Detection, DetectionThresholds
from models.vision.detection.ssd import TinySSD
from models.vision.detection.tiling import GRID, TILE_OVERLAP, in_pixels, merge_views, tile_grid
from models.vision.detection.tinyssd import TinySSDDetector
from tests.images import noise_image


def test_small_images_are_seen_whole_and_large_ones_also_in_four_overlapping_tiles():
    assert tile_grid(511, 2000, 256) == [(0.0, 0.0, 1.0, 1.0)]
    views = tile_grid(1900, 1300, 256)
    assert len(views) == 5 and views[0] == (0.0, 0.0, 1.0, 1.0)
    pixels = [in_pixels(view, (1900, 1300)) for view in views[1:]]
    left, right = pixels[0], pixels[1]
    assert left[0] == 0 and right[2] == 1900 and left[1] == right[1] == 0
    shared = left[2] - right[0]
    assert abs(shared - TILE_OVERLAP * (left[2] - left[0])) < 1e-6  # neighbours overlap
    assert abs(pixels[3][2] - 1900) < 1e-9 and abs(pixels[3][3] - 1300) < 1e-9


def test_tile_boxes_are_moved_into_the_image_cut_pieces_dropped_duplicates_merged():
    frame = (1000, 800)
    views = GRID  # whole image, then top-left, top-right, bottom-left, bottom-right
    tile_w, tile_h = in_pixels(GRID[1], frame)[2:]
    found = [
        [Detection([100.0, 100.0, 200.0, 200.0], 0.6, 0, "seal")],  # whole view
        [
            Detection([101.0, 99.0, 201.0, 199.0], 0.9, 0, "seal"),  # the same seal, sharper
            Detection([tile_w - 30, 10.0, tile_w - 0.5, 40.0], 0.8, 0, "seal"),  # cut by the edge
        ],
        [Detection([50.0, 60.0, 80.0, 90.0], 0.7, 0, "seal")],  # a small seal in the top right
        [],
        [],
    ]
    merged = merge_views(found, views, frame, DetectionThresholds(0.5, 0.5, 100))
    origin = in_pixels(GRID[2], frame)
    expected = [[101.0, 99.0, 201.0, 199.0], [origin[0] + 50.0, 60.0, origin[0] + 80.0, 90.0]]
    torch.testing.assert_close(torch.tensor([d.box for d in merged]), torch.tensor(expected))
    assert [d.score for d in merged] == pytest.approx([0.9, 0.7])
    assert tile_h > 0


def test_a_tiling_detector_looks_at_large_images_five_times_and_answers_in_their_pixels():
    torch.manual_seed(0)
    detector = TinySSDDetector(TinySSD(1, 64), ["seal"], torch.device("cpu"), tiling=True)
    assert detector.decode_side == 128
    small, large = Image.new("RGB", (100, 90)), noise_image((400, 300), 60).convert("RGB")
    assert detector.preprocess(small).shape == (3, 64, 64)
    assert detector.preprocess(large).shape == (5, 3, 64, 64)
    low = DetectionThresholds(0.0, 0.5, 50)
    whole_only, tiled = detector.detect([small, large], thresholds=low)
    assert whole_only and tiled
    for d in tiled:
        x1, y1, x2, y2 = d.box
        assert 0 <= x1 <= x2 <= 400 and 0 <= y1 <= y2 <= 300
    assert [d.score for d in tiled] == sorted((d.score for d in tiled), reverse=True)
    plain = TinySSDDetector(detector.model, ["seal"], torch.device("cpu"))
    (untiled,) = plain.detect([large], thresholds=low)
    assert {tuple(d.box) for d in untiled} != {tuple(d.box) for d in tiled}

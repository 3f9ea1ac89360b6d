"""The synthesised seals' masks (Mask R-CNN's training targets): each seal's filled silhouette,
moved with its pixels, cut where something covers it, written beside the images and read back
with each box."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from models.data.detection_csv import read_detection_csv
from models.data.hub import DataError
from models.data.silhouettes import instance_map, silhouette
from models.data.synthesize import SynthesisConfig, compose, seal_masks, synthesize
from tests.models.data.test_synthesize import MAGENTA, backgrounds, target  # noqa: F401

HARD = SynthesisConfig(hard=True, min_side=12)


def test_the_silhouette_of_a_ring_of_ink_is_the_whole_disc():
    ink = Image.new("L", (100, 100), 0)
    ImageDraw.Draw(ink).ellipse((10, 10, 89, 89), outline=255, width=6)
    filled = np.asarray(silhouette(ink)) > 0
    disc = Image.new("L", (100, 100), 0)
    ImageDraw.Draw(disc).ellipse((10, 10, 89, 89), fill=255)
    expected = np.asarray(disc) > 0
    assert filled[50, 50] and filled[20, 50]  # the holes inside the ring are filled
    assert (filled != expected).sum() < 0.03 * expected.sum()  # hull of a polygonal rim
    with pytest.raises(ValueError, match="empty"):
        silhouette(Image.new("L", (10, 10), 0))


@pytest.mark.parametrize("seed", range(30))
def test_each_silhouette_covers_its_seal_and_stays_in_its_box(target, seed):  # noqa: F811
    rng = random.Random(seed)
    size = rng.choice([(256, 256), (512, 320), (300, 640)])
    outlines: list[Image.Image] = []
    image, boxes = compose(
        Image.new("RGB", size, MAGENTA),
        seal_masks(target),
        rng,
        SynthesisConfig(),
        photometric=False,
        silhouettes=outlines,
    )
    assert len(outlines) == len(boxes)
    changed = np.abs(np.asarray(image, dtype=int) - np.array(MAGENTA)).max(axis=2) > 60
    for box, outline in zip(boxes, outlines, strict=True):
        inside = np.asarray(outline) > 0
        x1, y1, x2, y2 = box
        rows, cols = np.nonzero(inside)
        # within the box, up to the resampled rim
        assert cols.min() >= x1 - 1 and cols.max() <= x2 and rows.min() >= y1 - 1, box
        assert rows.max() <= y2, box
        ink = changed[y1:y2, x1:x2]
        covered = inside[y1:y2, x1:x2]
        # the seal's strongly drawn pixels lie inside its silhouette (but its soft rim) ...
        assert (ink & ~covered).sum() <= 0.08 * ink.sum() + 4 * (x2 - x1 + y2 - y1) ** 0.5
        # ... and the silhouette is filled, not the strokes: each row of it is one run, but
        # for pixels where resampling flickers around the threshold (the flat top and bottom
        # rows, a pixel at either end)
        for row in covered[covered.any(axis=1)][2:-2]:
            run = np.flatnonzero(row)
            assert run[-1] - run[0] + 1 - len(run) <= 2, (box, run)


def test_a_covered_part_of_a_seal_is_cut_out_of_its_silhouette(target):  # noqa: F811
    cut = 0
    for seed in range(60):
        rng = random.Random(seed)
        first: list[Image.Image] = []
        compose(Image.new("RGB", (400, 400), MAGENTA), seal_masks(target), rng, HARD, False, first)
        # The same draws without the cover: the disc before the occluder.
        area = [int((np.asarray(outline) > 0).sum()) for outline in first]
        boxes_area = [
            (np.asarray(o) > 0).any(axis=0).sum() * (np.asarray(o) > 0).any(axis=1).sum()
            for o in first
        ]
        cut += sum(a < 0.6 * b for a, b in zip(area, boxes_area, strict=True))
    assert cut > 0  # some of 60 hard images hide a third of a seal: their masks lose it


def test_asking_for_silhouettes_draws_the_same_image(target):  # noqa: F811
    for seed in range(5):
        plain, plain_boxes = compose(
            Image.new("RGB", (320, 320), MAGENTA), seal_masks(target), random.Random(seed), HARD
        )
        with_masks, boxes = compose(
            Image.new("RGB", (320, 320), MAGENTA),
            seal_masks(target),
            random.Random(seed),
            HARD,
            silhouettes=[],
        )
        assert plain_boxes == boxes and plain.tobytes() == with_masks.tobytes()


def test_instance_maps_number_the_seals_in_row_order():
    first, second = Image.new("L", (20, 10), 0), Image.new("L", (20, 10), 0)
    first.paste(255, (0, 0, 5, 5))
    second.paste(255, (10, 2, 15, 8))
    pixels = np.asarray(instance_map((20, 10), [first, second]))
    assert set(np.unique(pixels)) == {0, 1, 2}
    assert (pixels == 1).sum() == 25 and (pixels == 2).sum() == 30
    with pytest.raises(ValueError, match="255"):
        instance_map((2, 2), [first] * 256)


def test_the_written_masks_are_read_back_with_their_boxes(target, backgrounds, tmp_path):  # noqa: F811
    synthesize(target, [backgrounds], tmp_path / "set", count=8, seed=5)
    samples = read_detection_csv(tmp_path / "set", 160, keep_aspect=True, with_masks=True)
    assert len(samples) == 8
    for sample in samples:
        assert sample.masks is not None and sample.masks.dtype == torch.uint8
        assert sample.masks.shape == (len(sample.boxes), *sample.image.shape[-2:])
        height, width = sample.image.shape[-2:]
        for mask, box in zip(sample.masks, sample.boxes, strict=True):
            rows, cols = torch.nonzero(mask, as_tuple=True)
            x1, y1, x2, y2 = (box * torch.tensor([width, height, width, height])).tolist()
            # the mask spans its box, within the nearest-neighbour resize's pixel
            assert abs(cols.min() - x1) <= 2 and abs(cols.max() + 1 - x2) <= 2
            assert abs(rows.min() - y1) <= 2 and abs(rows.max() + 1 - y2) <= 2
    (tmp_path / "set" / "masks" / "000003.png").unlink()
    with pytest.raises(DataError, match=r"000003\.png is missing"):
        read_detection_csv(tmp_path / "set", 160, with_masks=True)

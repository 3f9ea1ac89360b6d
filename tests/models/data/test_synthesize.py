"""The synthesis of seal photos: exact boxes under every geometric transform, deterministic
output, d2l's layout."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from models.data.detection_csv import read_detection_csv
from models.data.synthesize import SynthesisConfig, compose, seal_masks, synthesize
from tests.images import noise_image

MAGENTA = (255, 0, 255)  # no ink or fill comes near it


@pytest.fixture(scope="module")
def target(tmp_path_factory) -> Path:
    """Two seal files like the real ones: white ink on transparency, green ink on a white disc."""
    folder = tmp_path_factory.mktemp("target")
    white = Image.new("RGBA", (200, 200), (255, 255, 255, 0))
    draw = ImageDraw.Draw(white)
    draw.ellipse((10, 10, 190, 190), outline=(255, 255, 255, 255), width=12)
    draw.rectangle((80, 50, 120, 150), fill=(255, 255, 255, 255))
    white.save(folder / "1.png")
    green = Image.new("RGBA", (120, 130), (0, 0, 0, 0))
    draw = ImageDraw.Draw(green)
    draw.ellipse((5, 10, 115, 120), fill=(255, 255, 255, 255), outline=(20, 100, 50, 255), width=8)
    draw.polygon([(60, 30), (90, 100), (30, 100)], fill=(20, 100, 50, 255))
    green.save(folder / "0.png")
    return folder


@pytest.fixture(scope="module")
def backgrounds(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("backgrounds")
    for index in range(3):
        noise_image((300 + 40 * index, 260), 50, seed=index).convert("RGB").save(
            folder / f"{index}.jpg"
        )
    return folder


@pytest.mark.parametrize("seed", range(40))
def test_each_box_is_the_pasted_seal_under_scale_rotation_and_tilt(target, seed):
    rng = random.Random(seed)
    size = rng.choice([(256, 256), (512, 320), (300, 640)])
    image, boxes = compose(
        Image.new("RGB", size, MAGENTA),
        seal_masks(target),
        rng,
        SynthesisConfig(),
        photometric=False,
    )
    assert 1 <= len(boxes) <= 3
    changed = np.abs(np.asarray(image, dtype=int) - np.array(MAGENTA)).max(axis=2) > 60
    for box in boxes:
        x1, y1, x2, y2 = box
        assert 0 <= x1 < x2 <= size[0] and 0 <= y1 < y2 <= size[1]
        inside = changed[y1:y2, x1:x2]
        rows, cols = np.nonzero(inside)
        # the seal reaches every edge of its box (within the anti-aliased rim) ...
        assert cols.min() <= 2 and cols.max() >= x2 - x1 - 3, (box, cols.min(), cols.max())
        assert rows.min() <= 2 and rows.max() >= y2 - y1 - 3, (box, rows.min(), rows.max())
        changed[y1:y2, x1:x2] = False
    # ... and nothing was pasted outside the boxes
    assert not changed.any()


def test_the_same_seed_writes_the_same_set_in_d2ls_layout(target, backgrounds, tmp_path):
    first = synthesize(target, [backgrounds], tmp_path / "a", count=6, seed=3)
    second = synthesize(target, [backgrounds], tmp_path / "b", count=6, seed=3)
    assert first.read_bytes() == second.read_bytes()
    for name in ("000000.jpg", "000005.jpg"):
        assert (tmp_path / "a/images" / name).read_bytes() == (
            tmp_path / "b/images" / name
        ).read_bytes()
    other = synthesize(target, [backgrounds], tmp_path / "c", count=6, seed=4)
    assert other.read_bytes() != first.read_bytes()
    rows = list(csv.DictReader(first.open()))
    assert {row["img_name"] for row in rows} == {f"{i:06d}.jpg" for i in range(6)}
    samples = read_detection_csv(tmp_path / "a", 128)
    assert len(samples) == 6 and all(
        float(s.boxes.min()) >= 0 and float(s.boxes.max()) <= 1 for s in samples
    )

"""Distractors (round things that are not the seal) and the hard cases of synthesis: drawn the
same for a seed, pasted with no box and never over a seal, seal-free images apart, the held-out
backgrounds never drawn on, and the first sets' images unchanged by any of it."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from models.data.distractors import KINDS, render_distractor
from models.data.synthesize import (
    INKS,
    SynthesisConfig,
    background_files,
    compose,
    held_out_backgrounds,
    seal_masks,
    synthesize,
)
from tests.data import DATA, needs_data
from tests.models.data.test_synthesize import MAGENTA, backgrounds, target  # noqa: F401

__all__ = ["backgrounds", "target"]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_draws_a_round_opaque_object_the_same_for_a_seed(kind):
    for seed in range(6):
        first = render_distractor(random.Random(seed), 96, INKS, kind)
        assert first.tobytes() == render_distractor(random.Random(seed), 96, INKS, kind).tobytes()
        alpha = np.asarray(first.getchannel("A"))
        assert alpha[:6, :6].max() == 0 and alpha[-6:, -6:].max() == 0  # round: corners empty
        assert (alpha > 128).mean() > 0.1


def test_distractors_lie_beside_the_seals_never_on_them(target):  # noqa: F811
    pasted = 0
    for seed in range(12):
        image, boxes = compose(
            Image.new("RGB", (512, 384), MAGENTA),
            seal_masks(target),
            random.Random(seed),
            SynthesisConfig(distractors=3),
            photometric=False,
        )
        changed = np.abs(np.asarray(image, dtype=int) - np.array(MAGENTA)).max(axis=2) > 60
        for x1, y1, x2, y2 in boxes:
            rows, cols = np.nonzero(changed[y1:y2, x1:x2])
            assert cols.min() <= 2 and cols.max() >= x2 - x1 - 3  # the box is still the seal's
            assert rows.min() <= 2 and rows.max() >= y2 - y1 - 3
            changed[y1:y2, x1:x2] = False
        pasted += bool(changed.any())
    assert pasted >= 6  # 0 to 3 distractors an image, where there is room


def test_hard_cases_keep_boxes_in_the_image(target):  # noqa: F811
    config = SynthesisConfig(distractors=2, hard=True, min_side=12)
    seen = 0
    for seed in range(30):
        image, boxes = compose(
            Image.new("RGB", (640, 480), MAGENTA), seal_masks(target), random.Random(seed), config
        )
        assert image.size == (640, 480) and 1 <= len(boxes) <= 3
        for x1, y1, x2, y2 in boxes:
            assert 0 <= x1 < x2 <= 640 and 0 <= y1 < y2 <= 480
            seen += (y2 - y1) < 0.8 * (x2 - x1)  # some seals are foreshortened
    assert seen > 0


def test_seal_free_images_and_held_out_backgrounds(target, backgrounds, tmp_path):  # noqa: F811
    files = background_files([backgrounds])
    held = held_out_backgrounds(files, 0.5, True)
    rest = held_out_backgrounds(files, 0.5, False)
    assert sorted(held + rest) == files and not set(held) & set(rest)
    config = SynthesisConfig(distractors=2)
    labels = synthesize(target, [backgrounds], tmp_path / "s", 4, 1, config, negatives=3)
    negatives = sorted((tmp_path / "s" / "negatives").glob("*.jpg"))
    assert [path.name for path in negatives] == ["000000.jpg", "000001.jpg", "000002.jpg"]
    assert "negatives" not in labels.read_text()
    again = synthesize(target, [backgrounds], tmp_path / "t", 4, 1, config, negatives=3)
    assert labels.read_bytes() == again.read_bytes()
    assert negatives[2].read_bytes() == (tmp_path / "t" / "negatives" / "000002.jpg").read_bytes()


@needs_data("sysu-logo/target", "sysu-logo/background")
def test_the_first_sets_are_drawn_as_they_were():
    """With the new options off a seed draws the boxes it drew before they existed (the sets
    the committed detectors were trained on stay reproducible)."""
    out = Path(__import__("tempfile").mkdtemp())
    labels = synthesize(
        DATA / "sysu-logo" / "target", [DATA / "sysu-logo" / "background"], out, 12, seed=7
    )
    digest = hashlib.sha256(labels.read_bytes()).hexdigest()
    assert digest == "eda60429fc458ce93c0443acb9c9f24a65c26e403e8d026d074a8786bcf555df"

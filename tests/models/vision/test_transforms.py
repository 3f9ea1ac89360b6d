"""Each augmentation keeps the boxes on the object: an image with one red square on black."""

from __future__ import annotations

import pytest
import torch

from models.vision.transforms import DetectionAugmentation, to_model_input

SIZE = 64


def scene(x1: int, y1: int, x2: int, y2: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    image = torch.zeros(3, SIZE, SIZE, dtype=torch.uint8)
    image[0, y1:y2, x1:x2] = 255
    return image, torch.tensor([[x1, y1, x2, y2]], dtype=torch.float32) / SIZE, torch.tensor([0])


def red_extent(image: torch.Tensor) -> list[float]:
    """The normalised xyxy box around the red pixels."""
    ys, xs = (image[0].float() > 127).nonzero(as_tuple=True)
    height, width = image.shape[-2:]
    extent = [xs.min() / width, ys.min() / height, (xs.max() + 1) / width, (ys.max() + 1) / height]
    return [float(value) for value in extent]


def test_flip_mirrors_the_box_with_the_pixels():
    flip = DetectionAugmentation(SIZE, flip=True, jitter=False, crop=False)
    image, boxes, labels = scene(40, 10, 60, 30)
    seen = set()
    for _ in range(20):  # flips half the time
        out, out_boxes, out_labels = flip(image, boxes, labels)
        assert out_boxes[0].tolist() == pytest.approx(red_extent(out), abs=1e-6)
        assert out_labels.tolist() == [0]
        seen.add(round(out_boxes[0, 0].item(), 3))
    assert seen == {round(40 / SIZE, 3), round(4 / SIZE, 3)}  # as is, and mirrored: 1 - 60/64


def test_colour_jitter_leaves_boxes_alone():
    jitter = DetectionAugmentation(SIZE, flip=False, jitter=True, crop=False)
    image, boxes, labels = scene(8, 8, 40, 24)
    image = image + 60  # a non-black background, so brightness and contrast change pixels
    changed = False
    for _ in range(5):
        out, out_boxes, _ = jitter(image, boxes, labels)
        assert torch.equal(out_boxes, boxes)
        changed |= not torch.equal(out, image)
    assert changed


def test_crop_clips_boxes_to_the_visible_part_of_the_object():
    crop = DetectionAugmentation(SIZE, flip=False, jitter=False, crop=True)
    image, boxes, labels = scene(20, 20, 44, 44)
    for _ in range(30):
        out, out_boxes, out_labels = crop(image, boxes, labels)
        assert out.shape == (3, SIZE, SIZE)
        if len(out_boxes) == 0:  # cropped out: no red left to speak of, the box goes too
            assert (out[0].float() > 127).sum() < 4 * 4
            continue
        assert bool(((out_boxes >= 0) & (out_boxes <= 1)).all())
        # Resampling blurs the edges by up to a pixel of the input.
        assert out_boxes[0].tolist() == pytest.approx(red_extent(out), abs=2.5 / SIZE)


def test_the_aspect_keeping_crop_keeps_the_shape_and_the_boxes_on_the_object():
    crop = DetectionAugmentation(SIZE, flip=False, jitter=False, crop=True, keep_aspect=True)
    wide = torch.zeros(3, SIZE, 2 * SIZE - 32, dtype=torch.uint8)  # 64 x 96
    wide[0, 20:44, 30:60] = 255
    boxes = torch.tensor([[30 / 96, 20 / 64, 60 / 96, 44 / 64]])
    for _ in range(30):
        out, out_boxes, _ = crop(wide, boxes, torch.tensor([0]))
        # The crop keeps 3:2 (to a pixel of rounding), the shorter side back at 64.
        assert out.shape[:2] == (3, SIZE) and abs(out.shape[2] - 96) <= 1
        if len(out_boxes) == 0:
            assert (out[0].float() > 127).sum() < 4 * 4
            continue
        assert out_boxes[0].tolist() == pytest.approx(red_extent(out), abs=2.5 / SIZE)


def test_all_steps_together_and_the_shared_model_input():
    augment = DetectionAugmentation(SIZE)
    image, boxes, labels = scene(16, 16, 48, 48)
    out, out_boxes, out_labels = augment(image, boxes, labels)
    assert (
        out.dtype == torch.uint8 and out_boxes.shape[1] == 4 and len(out_labels) == len(out_boxes)
    )
    model_input = to_model_input(torch.full((3, 100, 50), 255, dtype=torch.uint8), SIZE)
    assert model_input.shape == (3, SIZE, SIZE) and model_input.dtype == torch.float32
    assert torch.allclose(model_input, torch.ones_like(model_input))

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from models.data.detection_csv import (
    fit_to_input,
    read_detection_csv,
    read_negative_images,
    validation_split,
)
from models.data.hub import DataError
from tests.data import DATA, needs_data

SHARED = DATA / "sysu-logo"


def write_set(root: Path, images_folder: bool = True) -> None:
    folder = root / "images" if images_folder else root
    folder.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (200, 100), "blue").save(folder / "wide.jpg")
    Image.new("L", (50, 80), 128).save(folder / "tall.png")
    (root / "label.csv").write_text(
        "img_name,label,xmin,ymin,xmax,ymax\n"
        "wide.jpg,0,20,10,120,60\n"
        "wide.jpg,2,150,50,200,100\n"
        "tall.png,1,0,0,25,40\n"
    )


@pytest.mark.parametrize("images_folder", [True, False])
def test_images_of_any_size_are_resized_and_boxes_normalised(tmp_path: Path, images_folder: bool):
    write_set(tmp_path, images_folder)
    tall, wide = read_detection_csv(tmp_path, size=32)  # sorted by file name
    assert (
        wide.name == "wide.jpg"
        and wide.image.shape == (3, 32, 32)
        and wide.image.dtype == torch.uint8
    )
    torch.testing.assert_close(
        wide.boxes, torch.tensor([[0.1, 0.1, 0.6, 0.6], [0.75, 0.5, 1.0, 1.0]])
    )
    assert wide.labels.tolist() == [0, 2]
    assert tall.image.shape == (3, 32, 32)  # grey converted to RGB
    torch.testing.assert_close(tall.boxes, torch.tensor([[0.0, 0.0, 0.5, 0.5]]))


def test_keep_aspect_sets_the_shorter_side_and_caps_the_longer_at_twice_it(tmp_path: Path):
    write_set(tmp_path)
    tall, wide = read_detection_csv(tmp_path, size=32, keep_aspect=True)
    assert wide.image.shape == (3, 32, 64) and tall.image.shape == (3, 51, 32)
    # Normalised boxes do not depend on the frame they are drawn in.
    torch.testing.assert_close(
        wide.boxes, torch.tensor([[0.1, 0.1, 0.6, 0.6], [0.75, 0.5, 1.0, 1.0]])
    )
    panorama = torch.zeros(3, 10, 50, dtype=torch.uint8)
    assert fit_to_input(panorama, 32, keep_aspect=True).shape == (3, 12, 64)  # at most 2 x 32
    assert fit_to_input(panorama, 32).shape == (3, 32, 32)
    (negative,) = read_negative_images(tmp_path / "images", 32, keep_aspect=True)[1:]
    assert negative.image.shape == (3, 32, 64) and negative.boxes.shape == (0, 4)


def test_the_split_is_a_fixed_function_of_the_file_name():
    names = [f"{i:06d}.jpg" for i in range(5000)]
    in_val = [validation_split(name, 0.1) for name in names]
    assert 0.08 < sum(in_val) / len(names) < 0.12
    assert in_val == [validation_split(name, 0.1) for name in names]
    assert not any(validation_split(name, 0.0) for name in names)


def test_missing_labels_are_a_clear_error(tmp_path: Path):
    with pytest.raises(DataError, match="holds no label.csv"):
        read_detection_csv(tmp_path, size=32)


@needs_data("sysu-logo")
def test_the_logo_set_splits_into_818_and_82():
    assert len(read_detection_csv(SHARED, 64, "val")) == 82

"""Hard-negative mining: crops of seal-free photos where a detector fires."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from PIL import Image

from models.data.mine_negatives import main, square_around
from tests.data import DATA, needs_data

WEIGHTS = Path(__file__).resolve().parents[3] / "weights" / "tinyssd-logo.pt"


@pytest.mark.parametrize(
    ("box", "factor", "size", "square"),
    [
        ([40, 40, 60, 50], 2.0, (200, 100), (30, 25, 70, 65)),  # centred on the box
        ([0, 0, 20, 20], 3.0, (200, 100), (0, 0, 60, 60)),  # moved inside at a corner
        ([10, 10, 190, 90], 4.0, (200, 100), (50, 0, 150, 100)),  # shrunk to the shorter side
    ],
)
def test_the_crop_is_a_square_around_the_box_inside_the_image(box, factor, size, square):
    assert square_around(box, factor, size) == square


def test_a_factor_that_is_not_positive_is_refused():
    with pytest.raises(ValueError, match="factor must be positive, got 0"):
        square_around([0, 0, 10, 10], 0, (100, 100))


@needs_data("sysu-logo/images")
def test_mining_cuts_out_what_the_detector_fires_on_and_records_where_from(tmp_path: Path):
    """Photos with the seal stand in for photos it is mistaken in: the committed TinySSD fires
    on each, so each gives a crop that holds the box it fired on."""
    photos = tmp_path / "photos"
    photos.mkdir()
    for source in sorted((DATA / "sysu-logo" / "images").glob("*.jpg"))[:3]:
        shutil.copy(source, photos)
    (photos / "notes.txt").write_text("not an image")
    out = tmp_path / "mined"
    args = ["--weights", str(WEIGHTS), "--folders", str(photos), "--out", str(out)]
    assert main([*args, "--score", "0.5", "--per-photo", "1"]) == 0
    with (out / "mined.csv").open(newline="") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 3
    for row in rows:
        assert Path(row["source"]).parent == photos
        assert float(row["score"]) >= 0.5
        box = [float(row[key]) for key in ("xmin", "ymin", "xmax", "ymax")]
        with Image.open(row["source"]) as photo:
            context = min(max(box[2] - box[0], box[3] - box[1]) * 1.5, *photo.size)
        with Image.open(out / row["img_name"]) as crop:  # the box with its surroundings
            assert crop.width == crop.height >= max(48, context - 1)


def test_mining_a_folder_without_images_or_with_bad_weights_exits_2(tmp_path: Path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = str(tmp_path / "out")
    assert main(["--weights", str(WEIGHTS), "--folders", str(empty), "--out", out]) == 2
    assert "no images under" in capsys.readouterr().err
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    (empty / "a.jpg").write_bytes(b"")
    assert main(["--weights", str(bad), "--folders", str(empty), "--out", out]) == 2
    assert capsys.readouterr().err.startswith("error: ")

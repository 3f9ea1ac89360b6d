"""Recall and false boxes on labelled photos, counted as the closing figures say."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from models.train.photo_eval import false_alarms, labelled_photos
from models.vision.detection.base import Detection


class FixedBoxes:
    """A detector that answers the same boxes for every image (the counting is under test)."""

    def __init__(self, boxes: list[list[float]]) -> None:
        self.boxes = boxes

    def detect(self, images, sizes=None, thresholds=None):
        return [[Detection(box, 0.9, 0, "seal") for box in self.boxes] for _ in images]


def test_found_seals_by_difficulty_and_false_boxes(tmp_path: Path):
    Image.new("RGB", (400, 300)).save(tmp_path / "a.jpg")
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "img_name,label,xmin,ymin,xmax,ymax,difficulty\n"
        "a.jpg,0,10,10,110,110,clear\n"
        "a.jpg,0,200,100,240,140,hard\n"
    )
    detector = FixedBoxes([[12, 12, 108, 112], [300, 200, 350, 250], [201, 101, 215, 115]])
    report = labelled_photos(detector, labels, tmp_path)
    assert report == {
        "photos_clear_found": 1,
        "photos_clear_total": 1,
        "photos_hard_found": 0,  # the box on it overlaps too little (IoU < 0.5)
        "photos_hard_total": 1,
        "photos_false_boxes": 2,
    }


def test_every_box_on_a_photo_without_the_object_is_a_false_alarm(tmp_path: Path):
    for name in ("x.jpg", "y.png"):
        Image.new("RGB", (50, 50)).save(tmp_path / name)
    assert false_alarms(FixedBoxes([[0, 0, 5, 5]]), tmp_path) == {
        "negatives_photos": 2,
        "negatives_false_boxes": 2,
        "negatives_false_per_100": 100.0,
    }
    other = tmp_path / "more"
    other.mkdir()
    Image.new("RGB", (50, 50)).save(other / "z.jpg")
    both = false_alarms(FixedBoxes([[0, 0, 5, 5]]), [other, other])
    assert both == {
        "negatives_photos": 2,
        "negatives_false_boxes": 2,
        "negatives_false_per_100": 100.0,
    }

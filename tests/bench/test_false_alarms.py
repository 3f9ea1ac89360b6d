"""bench/false_alarms.py counts the boxes a detector, loaded as the service loads it, draws on
photos without the seal, and its recall on the labelled real photos."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import false_alarms
from tests.data import DATA, needs_data
from tests.images import noise_image

pytestmark = pytest.mark.integration  # a benchmark run end to end, on a committed detector
ROOT = Path(__file__).resolve().parents[2]


@needs_data("sysu-logo/unlabelled")
def test_it_counts_false_boxes_per_100_photos_as_the_service_serves(tmp_path: Path):
    blank = tmp_path / "blank"
    blank.mkdir()
    for index in range(4):
        noise_image((300, 200), 20, seed=index).convert("RGB").save(blank / f"{index}.jpg")
    out = tmp_path / "result.json"
    args = false_alarms.get_args_parser().parse_args(
        ["--manifest", str(ROOT / "weights" / "manifest.json"), "--models", "tinyssd-logo",
         "--seal-free", f"noise={blank}", "--photos", str(DATA / "sysu-logo" / "unlabelled"),
         "--out", str(out)]
    )  # fmt: skip
    false_alarms.main(args)
    row = json.loads(out.read_text())["models"]["tinyssd-logo"]
    assert row["noise"]["photos"] == 4
    assert row["noise"]["false_boxes_per_100"] == 25 * row["noise"]["false_boxes"]
    assert row["thresholds"]["score_threshold"] == 0.5  # the manifest's, as served
    recorded = json.loads((ROOT / "weights" / "manifest.json").read_text())
    (entry,) = [m for m in recorded["models"] if m["name"] == "tinyssd-logo"]
    assert (
        row["real_photos"]["photos_clear_found"]
        == entry["numerics"][f"{row['dtype']}_photos"]["photos_clear_found"]
    )

"""bench/false_alarms.py counts the boxes a detector, loaded as the service loads it, draws on
photos without the seal, and its recall on the labelled real photos."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bench import false_alarms
from models.manifest import read_manifest
from tests.data import DATA, needs_data
from tests.images import noise_image

pytestmark = pytest.mark.integration  # a benchmark run end to end, on a committed detector
ROOT = Path(__file__).resolve().parents[2]


@needs_data("sysu-logo/unlabelled")
def test_it_counts_false_boxes_per_100_photos_as_the_service_serves_and_records_them(
    tmp_path: Path,
):
    blank = tmp_path / "blank"
    blank.mkdir()
    for index in range(4):
        noise_image((300, 200), 20, seed=index).convert("RGB").save(blank / f"{index}.jpg")
    manifest = tmp_path / "manifest.json"  # a copy: --write rewrites the entry
    shutil.copy(ROOT / "weights" / "manifest.json", manifest)
    shutil.copy(ROOT / "weights" / "tinyssd-logo.pt", tmp_path)
    out = tmp_path / "result.json"
    args = false_alarms.get_args_parser().parse_args(
        ["--manifest", str(manifest), "--models", "tinyssd-logo",
         "--seal-free", f"noise={blank}", "--photos", str(DATA / "sysu-logo" / "unlabelled"),
         "--out", str(out), "--write"]
    )  # fmt: skip
    false_alarms.main(args)
    row = json.loads(out.read_text())["models"]["tinyssd-logo"]
    assert row["noise"]["photos"] == 4
    assert row["noise"]["false_boxes_per_100"] == 25 * row["noise"]["false_boxes"]
    (entry,) = [e for e in read_manifest(manifest) if e.name == "tinyssd-logo"]
    assert row["thresholds"]["score_threshold"] == entry.card.thresholds["score_threshold"]
    assert (
        row["real_photos"]["photos_clear_found"]
        == entry.card.numerics[f"{row['dtype']}_photos"]["photos_clear_found"]
    )
    recorded = entry.card.false_alarms
    assert set(recorded["sets"]) == {"noise"}  # this run's sets replace the earlier ones
    assert recorded["sets"]["noise"]["false_boxes"] == row["noise"]["false_boxes"]
    assert recorded["real_photos"] == row["real_photos"]
    assert entry.card.false_alarm_metrics() == {
        "false_per_100_noise": row["noise"]["false_boxes_per_100"]
    }

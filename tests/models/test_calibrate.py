"""python -m models.calibrate: a detector's default score threshold, chosen on its validation
split by recall, recorded in the manifest and applied by serving."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from models import calibrate
from models.manifest import read_manifest
from models.vision.detection.base import DEFAULT_THRESHOLDS, served_thresholds
from tests.data import DATA, needs_data

REPO_ROOT = Path(__file__).resolve().parents[2]
LOGO = DATA / "sysu-logo"


def test_the_threshold_keeps_the_asked_share_of_objects_and_lies_below_them():
    scores = [0.987, 0.999, 1.0, 0.996]
    assert calibrate.recall_threshold(scores, 1.0) == 0.98
    # A score on a hundredth stays kept: /detect keeps scores above the threshold.
    assert calibrate.recall_threshold([0.98, 0.99], 1.0) == 0.97
    # 0.75 of 4 objects may lose one: the lowest score no longer counts.
    assert calibrate.recall_threshold(scores, 0.75) == 0.99
    for recall in (0.75, 1.0):
        threshold = calibrate.recall_threshold(scores, recall)
        assert sum(s > threshold for s in scores) >= recall * len(scores)
    assert calibrate.recall_threshold([0.004], 1.0) == 0.0


@pytest.mark.parametrize(
    ("scores", "recall", "message"),
    [
        ([0.9], 0.0, "recall must lie in"),
        ([0.9], 1.5, "recall must lie in"),
        ([], 0.9, "no objects"),
        ([0.9, 0.0, 0.0], 0.9, "only 1 are found"),
    ],
)
def test_unreachable_or_wrong_recalls_are_refused(scores, recall, message):
    with pytest.raises(ValueError, match=message):
        calibrate.recall_threshold(scores, recall)


def test_served_thresholds_come_from_the_entry_and_bad_ones_are_named():
    assert served_thresholds(None) == DEFAULT_THRESHOLDS
    chosen = served_thresholds({"score_threshold": 0.98, "max_detections": 7})
    assert (chosen.score_threshold, chosen.iou_threshold, chosen.max_detections) == (0.98, 0.5, 7)
    for bad, message in [
        ([], "must be an object"),
        ({"score": 0.9}, "unknown 'score'"),
        ({"score_threshold": "high"}, "score_threshold must be a float"),
        ({"score_threshold": True}, "score_threshold must be a float"),
        ({"iou_threshold": 1.5}, r"iou_threshold must lie in \[0.0, 1.0\]"),
        ({"max_detections": 2.5}, "max_detections must be a int"),
    ]:
        with pytest.raises(ValueError, match=message):
            served_thresholds(bad)


@pytest.mark.integration  # the committed TinySSD on its whole validation split, twice
@needs_data("sysu-logo")
def test_calibrating_writes_the_threshold_serving_applies(tmp_path, make_client):
    """TinySSD's true scores spread low: the rule would go below 0.5, so the floor holds it; a
    floor of 0 lets the rule choose, keeps every validation seal, and /detect applies it."""
    shutil.copy(REPO_ROOT / "weights" / "tinyssd-logo.pt", tmp_path)
    committed = json.loads((REPO_ROOT / "weights" / "manifest.json").read_text())
    entry = next(m for m in committed["models"] if m["name"] == "tinyssd-logo")
    entry = {key: value for key, value in entry.items() if not key.startswith("thresholds")}
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"version": 2, "models": [entry]}))
    run = ["tinyssd-logo", "--manifest", str(manifest), "--device", "cpu"]
    floored = calibrate.main(calibrate.get_args_parser().parse_args(run))
    assert floored["score_threshold"] == 0.5 and floored["by_recall"] < 0.5
    assert "thresholds" not in read_manifest(manifest)[0].info  # no --write, nothing written
    report = calibrate.main(
        calibrate.get_args_parser().parse_args([*run, "--floor", "0", "--recall", "1", "--write"])
    )
    (written,) = read_manifest(manifest)
    threshold = written.info["thresholds"]["score_threshold"]
    assert threshold == report["by_recall"] == report["score_threshold"] < 0.5
    assert written.info["thresholds_calibration"]["kept"] == report["objects"] == 82
    client = make_client(manifest_path=manifest, default_detect_model="tinyssd-logo")
    (listed,) = client.get("/models").json()["models"]
    assert listed["thresholds"]["score_threshold"] == threshold
    seal = sorted((LOGO / "images").glob("*.jpg"))[0]
    found = client.post("/detect", files={"file": (seal.name, seal.read_bytes())}).json()
    assert found["detections"] and min(d["score"] for d in found["detections"]) > threshold


def test_a_bad_threshold_in_the_manifest_fails_the_model_with_the_reason(tmp_path, make_client):
    shutil.copy(REPO_ROOT / "weights" / "tinyssd-logo.pt", tmp_path)
    committed = json.loads((REPO_ROOT / "weights" / "manifest.json").read_text())
    entry = next(m for m in committed["models"] if m["name"] == "tinyssd-logo")
    entry["thresholds"] = {"score_threshold": 2}
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"version": 2, "models": [entry]}))
    client = make_client(manifest_path=manifest, default_detect_model="tinyssd-logo")
    (model,) = client.get("/health/ready").json()["models"]
    assert model["state"] == "failed"
    assert "score_threshold must lie in [0.0, 1.0], got 2" in model["reason"]
    answer = client.post("/detect", files={"file": ("a.png", b"\x89PNG")})
    assert answer.status_code == 503


def test_the_false_alarm_threshold_keeps_at_most_the_allowed_boxes_per_100_photos():
    scores = [0.99, 0.97, 0.9, 0.6, 0.3]
    # 40 photos at 2.5 per 100: one box allowed, so the threshold drops the second best (0.97)
    assert calibrate.false_alarm_threshold(scores, 40, 2.5) == 0.97
    assert sum(score > 0.97 for score in scores) == 1
    assert calibrate.false_alarm_threshold(scores, 400, 2.5) == 0.0  # 10 allowed, 5 drawn
    assert calibrate.false_alarm_threshold(scores, 10, 2.5) == 0.99  # none allowed
    assert calibrate.false_alarm_threshold([0.995], 10, 2.5) == 1.0  # rounded up to a hundredth
    with pytest.raises(ValueError, match="no photos"):
        calibrate.false_alarm_threshold(scores, 0, 2.5)

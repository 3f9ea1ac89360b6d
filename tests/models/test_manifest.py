from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.manifest import ManifestError, read_manifest

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_the_committed_manifest_parses():
    entries = read_manifest(REPO_ROOT / "weights" / "manifest.json")
    for entry in entries:
        assert entry.file.is_file(), f"{entry.name}: {entry.file} is listed but not committed"


def test_the_committed_weights_stay_under_100_mb():
    """A clone stays quick to fetch: the budget the Faster R-CNN issue set for weights/."""
    total = sum(
        path.stat().st_size for path in (REPO_ROOT / "weights").rglob("*") if path.is_file()
    )
    assert total < 100_000_000, f"weights/ holds {total:,} bytes"


def test_entries_resolve_files_next_to_the_manifest(tmp_path: Path):
    path = tmp_path / "manifest.json"
    model = {"name": "m", "task": "t", "file": "m.pt", "sha256": "AB", "metrics": {"acc": 1}}
    path.write_text(json.dumps({"models": [model]}))
    (entry,) = read_manifest(path)
    assert entry.file == tmp_path / "m.pt"
    assert entry.sha256 == "ab"
    assert entry.info == {"metrics": {"acc": 1}}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "cannot be read"),
        ("[]", 'must be an object with a "models" list'),
        ('{"models": [{"name": "m"}]}', r"models\[0\] lacks task, file, sha256"),
        (
            '{"models": [{"name": "m", "task": "t", "file": "f", "sha256": "0"},'
            ' {"name": "m", "task": "t", "file": "g", "sha256": "0"}]}',
            "model names must be unique",
        ),
    ],
)
def test_bad_manifests_are_refused_with_the_reason(tmp_path: Path, content: str, message: str):
    path = tmp_path / "manifest.json"
    path.write_text(content)
    with pytest.raises(ManifestError, match=message):
        read_manifest(path)


def test_a_missing_manifest_names_the_setting(tmp_path: Path):
    with pytest.raises(ManifestError, match="D2L_MANIFEST_PATH"):
        read_manifest(tmp_path / "absent.json")


def test_every_image_model_records_its_quality_per_numeric_format():
    """What D2L_DTYPE=auto decides from (python -m models.evaluate NAME --dtype all --write)."""
    for entry in read_manifest(REPO_ROOT / "weights" / "manifest.json"):
        if entry.task not in {"classify", "detect"}:
            continue
        numerics = entry.info.get("numerics")
        assert isinstance(numerics, dict), f"{entry.name} has no numerics"
        assert numerics["metric"] in {"test_accuracy", "val_accuracy", "map"}, entry.name
        assert 0 < numerics["float32"] <= 1, entry.name
        assert numerics["command"].startswith("python -m models.evaluate "), entry.name

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.cards import CARD_TYPES, MANIFEST_VERSION
from models.manifest import (
    ManifestError,
    default_models,
    read_manifest,
    upsert_entry,
)
from models.manifest import main as manifest_main

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


def test_the_committed_manifest_is_the_current_version_with_one_default_per_task():
    document = json.loads((REPO_ROOT / "weights" / "manifest.json").read_text())
    assert document["version"] == MANIFEST_VERSION
    entries = read_manifest(REPO_ROOT / "weights" / "manifest.json")
    assert default_models(entries) == {
        "classify": "resnet18-hymenoptera",
        "detect": "tinyssd-logo",
        "word2vec": "word2vec-skipgram-ptb",
    }
    for entry in entries:
        assert isinstance(entry.card, CARD_TYPES[entry.task]), entry.name
        assert entry.card.architecture, f"{entry.name} names no architecture"


VERSION_1 = {
    "models": [
        {"name": "ssd", "task": "detect", "file": "s.pt", "sha256": "0", "class_names": ["logo"]},
        {
            "name": "rcnn",
            "task": "detect",
            "file": "r.pt",
            "sha256": "0",
            "arch": "fasterrcnn",
            "class_names": ["logo"],
            "input_size": 320,
        },
        {"name": "vectors", "task": "word2vec", "file": "v", "sha256": "0", "arch": "cbow",
         "args": {"embed_size": 16}},
    ]
}  # fmt: skip


def test_a_version_1_manifest_is_read_through_the_migration_and_rewritten_by_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(VERSION_1))
    migrated = {entry.name: entry.card for entry in read_manifest(path)}
    assert migrated["rcnn"].architecture == "fasterrcnn"
    assert migrated["rcnn"].classes == ["logo"] and migrated["rcnn"].input_size == 320
    assert migrated["ssd"].architecture == "tinyssd"  # TinySSD runs recorded no arch
    assert migrated["vectors"].architecture == "cbow"
    assert migrated["vectors"].config == {"embed_size": 16}
    manifest_main(["migrate", str(path)])
    assert "3 models written as manifest version 2" in capsys.readouterr().out
    rewritten = json.loads(path.read_text())
    assert rewritten["version"] == MANIFEST_VERSION
    assert {model["name"]: model.get("classes") for model in rewritten["models"]} == {
        "rcnn": ["logo"],
        "ssd": ["logo"],
        "vectors": None,
    }
    assert not any("arch" in model or "class_names" in model for model in rewritten["models"])
    assert {entry.name: entry.card for entry in read_manifest(path)} == migrated


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"arch": "tinyssd"}, "arch: Extra inputs are not permitted"),
        ({"input_size": "large"}, "input_size: Input should be a valid integer"),
        ({"input_size": 0}, "input_size: Input should be greater than 0"),
        ({"tiling": "sometimes"}, "tiling: Input should be a valid boolean"),
        ({"default": "yes please"}, "default: Input should be a valid boolean"),
    ],
)
def test_a_card_of_a_known_task_is_validated_when_read_and_when_written(
    tmp_path: Path, entry: dict, message: str
):
    card = {"name": "m", "task": "detect", "file": "m.pt", "sha256": "0", **entry}
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"version": MANIFEST_VERSION, "models": [card]}))
    with pytest.raises(ManifestError, match=rf"models\[0\] \('m'\): {message}"):
        read_manifest(path)
    with pytest.raises(ManifestError, match=message):
        upsert_entry(tmp_path / "other.json", card)
    assert not (tmp_path / "other.json").exists()


def test_defaults_are_marked_once_per_task_or_taken_from_a_tasks_only_model(tmp_path: Path):
    def entry(name: str, task: str, **more: object) -> dict:
        return {"name": name, "task": task, "file": f"{name}.pt", "sha256": "0", **more}

    path = tmp_path / "manifest.json"
    models = [entry("a", "detect"), entry("b", "detect", default=True), entry("c", "classify")]
    path.write_text(json.dumps({"version": MANIFEST_VERSION, "models": models}))
    assert default_models(read_manifest(path)) == {"detect": "b", "classify": "c"}
    models[0]["default"] = True
    path.write_text(json.dumps({"version": MANIFEST_VERSION, "models": models}))
    with pytest.raises(ManifestError, match=r"2 detect models are marked default \(\['a', 'b'\]\)"):
        read_manifest(path)
    unmarked = [entry("a", "detect"), entry("b", "detect")]
    path.write_text(json.dumps({"version": MANIFEST_VERSION, "models": unmarked}))
    assert default_models(read_manifest(path)) == {}
    path.write_text(json.dumps({"version": 3, "models": unmarked}))
    with pytest.raises(ManifestError, match="has version 3; this service reads 1 and 2"):
        read_manifest(path)


def test_a_retrained_default_stays_the_default(tmp_path: Path):
    """A training command rewrites its model's entry; the manifest's mark must survive that."""
    path = tmp_path / "manifest.json"
    base = {"task": "detect", "sha256": "0"}
    upsert_entry(path, {"name": "a", "file": "a.pt", **base, "default": True})
    upsert_entry(path, {"name": "b", "file": "b.pt", **base})
    upsert_entry(path, {"name": "a", "file": "a2.pt", **base})
    assert default_models(read_manifest(path)) == {"detect": "a"}
    upsert_entry(path, {"name": "a", "file": "a3.pt", **base, "default": False})
    assert default_models(read_manifest(path)) == {}

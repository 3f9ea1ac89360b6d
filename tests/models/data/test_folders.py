"""ImageFolder sets read into memory: layouts (folder, zip, nested), splits, classes, formats."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest
import torch

from models.data.folders import (
    CIFAR10_ZIP,
    list_entries,
    locate_cifar10,
    read_image_folder,
    resolve_image_folder,
)
from models.data.hub import DATA_HUB, DataError
from models.vision.classifier import InputSpec
from tests.data import DATA, needs_data

HYMENOPTERA = DATA / "hymenoptera"


def test_a_folder_reads_with_sorted_classes_and_every_format(colour_folder: Path):
    train = read_image_folder(colour_folder, "train")
    assert train.classes == ["blue", "green", "red"]
    assert train.split == "train"
    assert len(train) == 72
    assert train.labels.tolist() == [0] * 24 + [1] * 24 + [2] * 24
    assert {Path(name).suffix for name in train.files} == {".jpg", ".png", ".gif"}
    assert all(image.dtype == torch.uint8 and image.shape[0] == 3 for image in train.images)
    # The class colour dominates each image: the labels belong to the right pixels.
    for image, label in zip(train.images, train.labels, strict=True):
        assert image.float().mean(dim=(1, 2)).argmax() == [2, 1, 0][label]


def test_eval_takes_val_or_test_and_indexes_by_the_training_classes(
    colour_folder: Path, tmp_path: Path
):
    evaluation = read_image_folder(colour_folder, "eval")
    assert evaluation.split == "val"
    renamed = shutil.copytree(colour_folder, tmp_path / "set")
    (renamed / "val").rename(renamed / "test")
    shutil.rmtree(renamed / "test" / "blue")
    test = read_image_folder(renamed, "eval", classes=["blue", "green", "red"])
    assert test.split == "test"
    assert set(test.labels.tolist()) == {1, 2}


def test_a_zip_with_the_set_one_folder_down_reads_like_the_folder(
    colour_folder: Path, tmp_path: Path
):
    archive = tmp_path / "colours.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in sorted(colour_folder.rglob("*")):
            if path.is_file():
                bundle.write(path, "colours/" + path.relative_to(colour_folder).as_posix())
    from_zip = read_image_folder(archive, "eval")
    from_folder = read_image_folder(colour_folder, "eval")
    assert from_zip.files == from_folder.files
    assert from_zip.labels.tolist() == from_folder.labels.tolist()
    for a, b in zip(from_zip.images, from_folder.images, strict=True):
        assert torch.equal(a, b)


def test_missing_splits_and_unknown_classes_are_data_errors(colour_folder: Path, tmp_path: Path):
    with pytest.raises(DataError, match="neither a folder nor a .zip"):
        list_entries(tmp_path / "absent")
    only_train = shutil.copytree(colour_folder / "train", tmp_path / "only" / "train")
    with pytest.raises(DataError, match="no val/ or test/"):
        read_image_folder(only_train.parent, "eval")
    with pytest.raises(DataError, match="classes not in training: \\['red'\\]"):
        read_image_folder(colour_folder, "val", classes=["blue", "green"])
    broken = shutil.copytree(colour_folder, tmp_path / "broken")
    (broken / "train" / "red" / "bad.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match="bad.jpg cannot be decoded"):
        read_image_folder(broken, "train")


def test_a_prepare_function_shapes_what_is_kept(colour_folder: Path):
    spec = InputSpec.for_size(16)
    evaluation = read_image_folder(colour_folder, "val", spec.eval_transform, min_side=18)
    assert {tuple(image.shape) for image in evaluation.images} == {(3, 16, 16)}


@needs_data("hymenoptera")
def test_the_real_ants_and_bees_set_reads_whole():
    spec = InputSpec.for_size(64)
    train = read_image_folder(HYMENOPTERA, "train", spec.eval_transform, spec.resize_size)
    val = read_image_folder(HYMENOPTERA, "eval", spec.eval_transform, spec.resize_size)
    assert (len(train), len(val), val.split) == (245, 153, "val")
    assert train.classes == ["ants", "bees"]
    assert any(" " in name for name in train.files + val.files)  # the file name with a space
    assert any(name.endswith(".gif") for name in train.files + val.files)


@needs_data("cifar10")
def test_the_local_cifar10_zip_is_found_verified_and_complete():
    path = locate_cifar10(DATA)
    assert path == DATA / "cifar10" / CIFAR10_ZIP.file
    entries = list_entries(path)
    counts = {split: sum(e.split == split for e in entries) for split in ("train", "test")}
    assert counts == {"train": 50_000, "test": 5_000}
    assert sorted({e.label for e in entries}) == [
        "airplane", "automobile", "bird", "cat", "deer",
        "dog", "frog", "horse", "ship", "truck",
    ]  # fmt: skip


def test_a_cifar10_zip_with_the_wrong_sha1_is_refused(tmp_path: Path):
    (tmp_path / "cifar10").mkdir()
    (tmp_path / "cifar10" / CIFAR10_ZIP.file).write_bytes(b"PK")
    with pytest.raises(DataError, match="SHA-1"):
        locate_cifar10(tmp_path)
    assert locate_cifar10(tmp_path / "nothing") is None


def test_known_sets_resolve_to_their_local_copy_and_paths_stay_paths(tmp_path: Path):
    assert resolve_image_folder(str(tmp_path / "mine")) == tmp_path / "mine"
    (tmp_path / "hymenoptera" / "train").mkdir(parents=True)
    assert resolve_image_folder("hymenoptera", tmp_path) == tmp_path / "hymenoptera"
    assert DATA_HUB["hymenoptera"].sha1 == "c6ff178de032ee56fa5b35c2a6a9005c934faba0"
    assert DATA_HUB["hymenoptera"].url.endswith("/tutorial/hymenoptera_data.zip")

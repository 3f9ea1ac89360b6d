from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from models.data.hub import DATA_HUB, Archive, DataError, download, locate
from models.data.ptb import read_ptb
from models.text.vocab import Vocab
from tests.data import DATA, needs_data

SHARED = DATA
needs_ptb = needs_data("ptb/ptb.zip")


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("D2L_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def fake_ptb(folder: Path) -> tuple[Path, str]:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "ptb.zip"
    with zipfile.ZipFile(path, "w") as bundle:
        bundle.writestr("ptb/ptb.train.txt", " the cat sat \n the dog sat \n")
    return path, hashlib.sha1(path.read_bytes()).hexdigest()


def test_the_hub_knows_the_books_archives():
    assert DATA_HUB["ptb"].sha1 == "319d85e578af0cdc590547f26231e4e31cdf1e42"
    assert DATA_HUB["ptb"].url.endswith("/ptb.zip")
    assert DATA_HUB["banana-detection"].sha1 == "5de26c8fce5ccdea9f91267273464dc968d20d72"


def test_a_local_copy_with_the_wrong_checksum_is_an_error_not_a_silent_use(tmp_path: Path):
    path, _ = fake_ptb(tmp_path / "data" / "ptb")
    with pytest.raises(DataError, match="has SHA-1 .* must have 319d85e5"):
        locate("ptb", data_dir=tmp_path / "data")
    with pytest.raises(DataError, match="corrupt"):
        read_ptb("train", path)


def test_local_copies_are_found_before_any_download(tmp_path: Path, monkeypatch):
    path, sha1 = fake_ptb(tmp_path / "data" / "ptb")
    monkeypatch.setitem(
        DATA_HUB, "ptb", Archive("ptb.zip", sha1, "ptb", "http://127.0.0.1:9/ptb.zip")
    )
    monkeypatch.setenv("D2L_DATA_DIR", str(tmp_path / "data"))
    assert locate("ptb") == path
    assert read_ptb("train") == [["the", "cat", "sat"], ["the", "dog", "sat"]]
    text = tmp_path / "text"
    text.mkdir()
    (text / "ptb.train.txt").write_text(" the cat sat \n the dog sat \n")
    assert read_ptb("train", text) == read_ptb("train")


def test_an_unreachable_download_says_where_to_put_the_file(tmp_path: Path):
    archive = Archive("ptb.zip", "0" * 40, "ptb", "http://127.0.0.1:9/ptb.zip")
    with pytest.raises(DataError, match=r"put a copy in \$D2L_DATA_DIR/ptb/"):
        download(archive)


def test_splits_are_checked():
    with pytest.raises(DataError, match="split must be one of train, valid, test"):
        read_ptb("dev")


@needs_ptb
def test_the_real_ptb_reads_as_the_book_counts_it():
    sentences = read_ptb("train", SHARED / "ptb" / "ptb.zip")
    assert len(sentences) == 42_068
    assert sum(map(len, sentences)) == 887_521
    assert len(Vocab(sentences, min_freq=10)) == 6_719

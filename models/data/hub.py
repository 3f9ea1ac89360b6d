"""d2l's data hub: known archives with their SHA-1, found locally first, downloaded otherwise.

Lookup order for an archive: an explicit path, then ``$D2L_DATA_DIR/<folder>/<file>`` and
``$D2L_DATA_DIR/<file>``, then the download cache (``$D2L_CACHE_DIR``, default
``~/.cache/d2l-serve``), and only then the network. Whatever is found is verified against the
SHA-1 before use: a mismatch is an error, never a silent use.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

D2L_DATA_URL = "http://d2l-data.s3-accelerate.amazonaws.com/"


@dataclass(frozen=True)
class Archive:
    file: str  # name on the hub and on disk
    sha1: str
    folder: str  # folder under D2L_DATA_DIR where a local copy may sit
    url: str


def _hub(file: str, sha1: str, folder: str) -> Archive:
    return Archive(file, sha1, folder, D2L_DATA_URL + file)


DATA_HUB: dict[str, Archive] = {
    "ptb": _hub("ptb.zip", "319d85e578af0cdc590547f26231e4e31cdf1e42", "ptb"),
    "banana-detection": _hub(
        "banana-detection.zip", "5de26c8fce5ccdea9f91267273464dc968d20d72", "banana-detection"
    ),
    "hotdog": _hub("hotdog.zip", "fba480ffa8aa7e0febbb511d181409f899b9baa5", "hotdog"),
    # The PyTorch transfer-learning tutorial's ants and bees (not on d2l's hub).
    "hymenoptera": Archive(
        "hymenoptera_data.zip",
        "c6ff178de032ee56fa5b35c2a6a9005c934faba0",
        "hymenoptera",
        "https://download.pytorch.org/tutorial/hymenoptera_data.zip",
    ),
}


class DataError(RuntimeError):
    """A data set is missing, unreachable or corrupt; the message says what to do."""


def sha1_of(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha1").hexdigest()


def cache_dir() -> Path:
    return Path(os.environ.get("D2L_CACHE_DIR", Path.home() / ".cache" / "d2l-serve"))


def locate(name: str, path: Path | None = None, data_dir: Path | None = None) -> Path:
    """The verified archive ``name``: local copies first, then a download into the cache."""
    archive = DATA_HUB[name]
    data_dir = data_dir or (
        Path(os.environ["D2L_DATA_DIR"]) if "D2L_DATA_DIR" in os.environ else None
    )
    candidates = [path] if path is not None else []
    if data_dir is not None:
        candidates += [data_dir / archive.folder / archive.file, data_dir / archive.file]
    candidates.append(cache_dir() / archive.file)
    for candidate in candidates:
        if candidate is not None and candidate.is_file():
            return verify(candidate, archive)
    if path is not None:
        raise DataError(f"{path} does not exist")
    return verify(download(archive), archive)


def verify(path: Path, archive: Archive) -> Path:
    digest = sha1_of(path)
    if digest != archive.sha1:
        raise DataError(
            f"{path} has SHA-1 {digest}, but {archive.file} must have {archive.sha1}: the file is "
            f"corrupt or another version; delete it to download it again"
        )
    return path


def download(archive: Archive) -> Path:
    target = cache_dir() / archive.file
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(target.suffix + ".part")
    try:
        with urllib.request.urlopen(archive.url, timeout=60) as response, partial.open("wb") as out:
            shutil.copyfileobj(response, out)
    except OSError as error:
        raise DataError(
            f"{archive.file} is not available locally and downloading {archive.url} failed "
            f"({error}): put a copy in $D2L_DATA_DIR/{archive.folder}/ or pass its path"
        ) from None
    partial.replace(target)
    return target


def extract(archive_path: Path, name: str) -> Path:
    """Unzip a verified archive into the cache once (re-used afterwards); returns the folder."""
    target = cache_dir() / "extracted" / f"{name}-{DATA_HUB[name].sha1[:8]}"
    if not (target / ".complete").exists():
        target.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(archive_path) as bundle:
            bundle.extractall(target)
        (target / ".complete").touch()
    return target

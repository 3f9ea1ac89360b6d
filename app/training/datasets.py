"""``POST /datasets``'s work: an upload unpacked and checked in a folder of its own, written in
the layout its task's training reads, then moved into place in one rename and recorded; on
any failure nothing is left behind."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any, BinaryIO

from app.serving.intake import ImageLimits
from app.training.detection_sets import build_detection_set
from app.training.image_sets import build_image_set
from app.training.store import Store, new_id
from app.training.text_sets import build_text_set
from app.training.uploads import DatasetError
from models.data.archives import ArchiveError, ArchiveLimits, extract_zip

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
ZIP_MAGIC = b"PK\x03\x04"
EMPTY_ZIP = b"PK\x05\x06"


def check_name(name: str, loc: tuple[str, ...] = ("query", "name")) -> str:
    if not NAME.fullmatch(name):
        raise DatasetError(
            f"{loc[-1]} must be 1 to 64 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit",
            loc=loc,
        )
    return name


def create_dataset(
    store: Store,
    task: str,
    name: str,
    upload: BinaryIO,
    filename: str,
    archive_limits: ArchiveLimits,
    image_limits: ImageLimits,
) -> dict[str, Any]:
    """Unpack, check and record the set ``upload``; its row. Raises :class:`DatasetError`."""
    dataset_id = new_id("ds")
    work = store.datasets_dir / f".incoming-{dataset_id}"
    unpacked, built = work / "unpacked", work / "set"
    unpacked.mkdir(parents=True)
    try:
        head = upload.read(4)
        upload.seek(0)
        if head in (ZIP_MAGIC, EMPTY_ZIP):
            try:
                extracted = extract_zip(upload, unpacked, archive_limits)
            except ArchiveError as error:
                raise DatasetError(str(error), status_code=400) from None
            pre_skipped = extracted.skipped
        elif task == "word2vec":
            _copy_text(upload, unpacked / "upload.txt", archive_limits.max_bytes)
            pre_skipped = []
        else:
            raise DatasetError(
                f"the file is not a zip archive: send the {task} set as a .zip", status_code=400
            )
        if task == "classify":
            summary = build_image_set(unpacked, built, image_limits)
        elif task == "detect":
            summary = build_detection_set(unpacked, built, image_limits)
        else:
            summary = build_text_set(unpacked, built)
        skipped = summary["skipped"]
        skipped["files"] = (pre_skipped + skipped["files"])[:50]
        skipped["count"] += len(pre_skipped)
        summary["upload"] = {"file": Path(filename).name[:120] or "upload"}
        built.replace(store.datasets_dir / dataset_id)
        return store.add_dataset(dataset_id, name, task, summary)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _copy_text(upload: BinaryIO, target: Path, max_bytes: int) -> None:
    written = 0
    with target.open("wb") as out:
        while chunk := upload.read(1 << 20):
            written += len(chunk)
            if written > max_bytes:
                raise DatasetError(f"the text is larger than {max_bytes:,} bytes", status_code=413)
            out.write(chunk)


def delete_dataset(store: Store, dataset_id: str) -> None:
    """Forget a set and remove its files (refused while a job that has not ended uses it)."""
    busy = store.jobs_using(dataset_id)
    if busy:
        raise DatasetError(
            f"the data set is used by the job {busy[0]['id']} ({busy[0]['state']}): cancel it "
            "or wait for it to end",
            status_code=409,
        )
    store.delete_dataset(dataset_id)
    shutil.rmtree(store.datasets_dir / dataset_id, ignore_errors=True)

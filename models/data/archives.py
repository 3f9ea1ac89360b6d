"""Unpacking a zip archive a user sent, without trusting it.

Python's ``zipfile`` refuses nothing: members may name absolute paths or ``..`` (writing outside
the folder), be symbolic links, claim one size and inflate to another, or number in the
millions. :func:`extract_zip` checks every member's name and kind before writing anything,
counts the bytes it really inflates (a member that lies about its size is stopped at the limit,
so a zip bomb is refused in the time it takes to inflate the limit) and writes into a folder the
caller owns. Files of no interest to a data set (``__MACOSX/``, ``.DS_Store``, hidden files)
are skipped and listed.
"""

from __future__ import annotations

import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO

CHUNK = 1 << 20
IGNORED_PARTS = {"__MACOSX", ".DS_Store", "Thumbs.db", "desktop.ini"}


class ArchiveError(ValueError):
    """An archive that cannot be used; the message says why and what to send instead."""


@dataclass(frozen=True)
class ArchiveLimits:
    """The most files and inflated bytes an archive may hold, and how far its members may
    inflate each byte (zip bombs inflate thousands of times; images and text far less)."""

    max_files: int = 20_000
    max_bytes: int = 2 << 30
    max_ratio: float = 200.0

    def __post_init__(self) -> None:
        if self.max_files < 1 or self.max_bytes < 1 or self.max_ratio < 1:
            raise ValueError(f"archive limits must be positive, got {self}")


@dataclass
class Extracted:
    """What :func:`extract_zip` wrote: member paths relative to the target (``/``-separated),
    the bytes inflated, and the members skipped with the reason."""

    files: list[str] = field(default_factory=list)
    bytes: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)


def member_path(name: str) -> PurePosixPath | None:
    """The relative path a member may be written to, or None for a folder entry; raises
    :class:`ArchiveError` for one that would land outside the target."""
    if "\x00" in name:
        raise ArchiveError("an archive member's name holds a NUL byte: rebuild the archive")
    cleaned = name.replace("\\", "/")
    path = PurePosixPath(cleaned)
    if cleaned.startswith("/") or (len(cleaned) > 1 and cleaned[1] == ":"):
        raise ArchiveError(
            f"the archive member {shown(name)} has an absolute path: zip the folder's contents "
            "with relative paths"
        )
    if ".." in path.parts:
        raise ArchiveError(
            f"the archive member {shown(name)} points outside the archive (..): zip the "
            "folder's contents with relative paths"
        )
    if cleaned.endswith("/") or not path.parts:
        return None
    return path


def shown(name: str, most: int = 80) -> str:
    """A member name as error messages quote it: clipped, control characters escaped."""
    text = name.encode("unicode_escape").decode("ascii")
    return repr(text if len(text) <= most else text[: most - 3] + "...")


def extract_zip(source: BinaryIO | Path, target: Path, limits: ArchiveLimits) -> Extracted:
    """Unpack the zip ``source`` into the existing folder ``target``.

    Raises:
        ArchiveError: not a zip, encrypted, a member outside the folder or a link, more files
            or inflated bytes than ``limits`` allow (nothing is left half-written in a way that
            matters: the caller removes ``target``).
    """
    try:
        bundle = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, EOFError):
        raise ArchiveError("the file is not a zip archive: send a .zip") from None
    with bundle:
        members = _checked_members(bundle, limits)
        result = Extracted()
        for info, path in members:
            if any(part in IGNORED_PARTS or part.startswith(".") for part in path.parts):
                result.skipped.append({"file": str(path), "reason": "system or hidden file"})
                continue
            destination = target.joinpath(*path.parts)
            destination.parent.mkdir(parents=True, exist_ok=True)
            result.bytes += _inflate(bundle, info, destination, limits, result.bytes)
            result.files.append(str(path))
        return result


def _checked_members(
    bundle: zipfile.ZipFile, limits: ArchiveLimits
) -> list[tuple[zipfile.ZipInfo, PurePosixPath]]:
    """Every member to write, each checked by its header before anything is written."""
    infos = bundle.infolist()
    if len(infos) > limits.max_files:
        raise ArchiveError(
            f"the archive holds {len(infos):,} entries, more than the {limits.max_files:,} "
            "allowed: send a smaller set"
        )
    declared = sum(info.file_size for info in infos)
    if declared > limits.max_bytes:
        raise ArchiveError(
            f"the archive inflates to {declared:,} bytes, more than the {limits.max_bytes:,} "
            "allowed: send a smaller set"
        )
    members, seen = [], set()
    for info in infos:
        path = member_path(info.filename)
        if path is None:
            continue
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise ArchiveError(
                f"the archive member {shown(info.filename)} is a symbolic link: archive the "
                "files themselves"
            )
        if info.flag_bits & 0x1:
            raise ArchiveError(
                f"the archive member {shown(info.filename)} is encrypted: send an archive "
                "without a password"
            )
        key = str(path).casefold()
        if key in seen:
            raise ArchiveError(f"the archive holds {shown(info.filename)} twice")
        seen.add(key)
        members.append((info, path))
    return members


def _inflate(
    bundle: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    destination: Path,
    limits: ArchiveLimits,
    written_before: int,
) -> int:
    """Inflate one member, counting what it really gives; returns its byte count."""
    allowed = min(
        limits.max_bytes - written_before,
        max(CHUNK, int(limits.max_ratio * max(info.compress_size, 1))),
    )
    written = 0
    try:
        with bundle.open(info) as member, destination.open("wb") as out:
            while chunk := member.read(CHUNK):
                written += len(chunk)
                if written > allowed:
                    raise ArchiveError(
                        f"the archive member {shown(info.filename)} inflates beyond "
                        f"{allowed:,} bytes (a zip bomb, or a set over the limit): send the "
                        "files as they are"
                    )
                out.write(chunk)
    except (zipfile.BadZipFile, EOFError, NotImplementedError, RuntimeError, OSError) as error:
        raise ArchiveError(
            f"the archive member {shown(info.filename)} cannot be unpacked "
            f"({type(error).__name__}): rebuild the archive"
        ) from None
    return written

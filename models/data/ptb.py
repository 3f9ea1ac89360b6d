"""The Penn Treebank as d2l reads it: one sentence per line, words split on spaces."""

from __future__ import annotations

from pathlib import Path

from models.data.hub import DataError, extract, locate

SPLITS = ("train", "valid", "test")


def read_ptb(split: str = "train", path: Path | None = None) -> list[list[str]]:
    """Sentences of ``ptb.<split>.txt`` as token lists.

    Args:
        split: train, valid or test.
        path: ``ptb.zip``, a folder holding ``ptb.<split>.txt``, or a ``.txt`` file of one's
            own (read whatever ``split`` says); by default the hub's lookup
            (``$D2L_DATA_DIR/ptb/ptb.zip``, the cache, then d2l's data hub).
    """
    if split not in SPLITS:
        raise DataError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    if path is not None and path.is_file() and path.suffix == ".txt":
        text_file = path
    elif path is not None and path.is_dir():
        text_file = next(
            (
                c
                for c in (path / f"ptb.{split}.txt", path / "ptb" / f"ptb.{split}.txt")
                if c.is_file()
            ),
            None,
        )
        if text_file is None:
            raise DataError(f"{path} holds no ptb.{split}.txt")
    else:
        text_file = extract(locate("ptb", path), "ptb") / "ptb" / f"ptb.{split}.txt"
    return [line.split() for line in text_file.read_text(encoding="utf-8").splitlines()]

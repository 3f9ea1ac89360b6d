"""word2vec sets: UTF-8 text, one sentence per line (a text file, or a zip of ``.txt`` files),
as the book reads the Penn Treebank. Written as ``sentences.txt``: each line's words split on
white space and lower-cased (a query for ``Chip`` finds ``chip``), empty lines dropped."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from app.training.uploads import DatasetError, Skipped, relative

TEXT_SUFFIXES = {".txt", ".text", ""}
MIN_TOKENS = 1_000  # fewer words than this teach no neighbours


def build_text_set(unpacked: Path, target: Path) -> dict[str, Any]:
    """Read every text file under ``unpacked`` into ``target/sentences.txt``; its summary."""
    skipped = Skipped()
    counts: Counter[str] = Counter()
    lines = 0
    target.mkdir(parents=True, exist_ok=True)
    with (target / "sentences.txt").open("w", encoding="utf-8") as out:
        for path in sorted(p for p in unpacked.rglob("*") if p.is_file()):
            name = relative(path, unpacked)
            if path.suffix.lower() not in TEXT_SUFFIXES:
                skipped.add(name, "not a .txt file")
                continue
            try:
                text = path.read_text(encoding="utf-8-sig")
            except UnicodeDecodeError:
                skipped.add(name, "not UTF-8 text")
                continue
            for line in text.splitlines():
                words = line.lower().split()
                if words:
                    out.write(" ".join(words) + "\n")
                    counts.update(words)
                    lines += 1
    tokens = sum(counts.values())
    if tokens < MIN_TOKENS:
        raise DatasetError(
            f"the text holds {tokens:,} words: word2vec needs at least {MIN_TOKENS:,} (send "
            "UTF-8 text, one sentence per line)"
        )
    return {
        "layout": "text, one sentence per line",
        "sentences": lines,
        "tokens": tokens,
        "vocabulary": len(counts),
        "words_seen_10_times": sum(1 for n in counts.values() if n >= 10),
        "most_common": [word for word, _ in counts.most_common(10)],
        "skipped": skipped.as_dict(),
    }

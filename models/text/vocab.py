"""A vocabulary as d2l builds it: tokens seen at least ``min_freq`` times, the rest ``<unk>``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

UNK = "<unk>"


class Vocab:
    """Index 0 is ``<unk>``; the other tokens follow by decreasing frequency (ties by spelling).

    Args:
        sentences: token lists to count.
        min_freq: tokens seen fewer times map to ``<unk>``.
    """

    def __init__(self, sentences: Iterable[Sequence[str]], min_freq: int = 10) -> None:
        counts = Counter(token for sentence in sentences for token in sentence)
        kept = sorted(
            (token for token, count in counts.items() if count >= min_freq and token != UNK),
            key=lambda token: (-counts[token], token),
        )
        self.idx_to_token: list[str] = [UNK, *kept]
        self.token_to_idx: dict[str, int] = {token: i for i, token in enumerate(self.idx_to_token)}
        self.counts = counts

    def __len__(self) -> int:
        return len(self.idx_to_token)

    def __contains__(self, token: str) -> bool:
        return token in self.token_to_idx

    def index(self, token: str) -> int:
        return self.token_to_idx.get(token, 0)

    def indices(self, tokens: Sequence[str]) -> list[int]:
        return [self.token_to_idx.get(token, 0) for token in tokens]

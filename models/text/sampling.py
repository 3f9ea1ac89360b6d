"""word2vec's training data, vectorised with NumPy (no per-token Python loops).

The steps are d2l's (section "The Dataset for Pretraining Word Embeddings"): drop ``<unk>``,
subsample frequent words, pick a random context window per centre word, draw noise words with
probability proportional to frequency^0.75. Unlike the book, which draws all of this once, the
trainer draws it afresh each epoch, as the original word2vec does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from models.text.vocab import Vocab


@dataclass(frozen=True)
class Corpus:
    """A tokenised corpus without ``<unk>``, flat.

    ids (int64[T]): vocabulary index of each token; sentence (int64[T]): its sentence number;
    counts (int64[V]): occurrences of each vocabulary index (0 for ``<unk>``).
    """

    ids: np.ndarray
    sentence: np.ndarray
    counts: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class ContextWindows:
    """Each centre word with the words of its window.

    centers (int64[N]); contexts (int64[N, 2W]) padded with 0; mask (bool[N, 2W]) marks real ones.
    """

    centers: np.ndarray
    contexts: np.ndarray
    mask: np.ndarray


def build_corpus(sentences: Sequence[Sequence[str]], vocab: Vocab) -> Corpus:
    lengths = np.fromiter((len(s) for s in sentences), dtype=np.int64, count=len(sentences))
    ids = np.fromiter(
        (vocab.token_to_idx.get(t, 0) for s in sentences for t in s),
        dtype=np.int64,
        count=int(lengths.sum()),
    )
    sentence = np.repeat(np.arange(len(sentences), dtype=np.int64), lengths)
    known = ids != 0
    ids, sentence = ids[known], sentence[known]
    counts = np.bincount(ids, minlength=len(vocab)).astype(np.int64)
    return Corpus(ids=ids, sentence=sentence, counts=counts)


def subsample(corpus: Corpus, t: float, rng: np.random.Generator) -> Corpus:
    """Keep each token with probability ``sqrt(t / f)``, f its relative frequency (d2l's rule)."""
    if len(corpus) == 0:
        return corpus
    frequency = corpus.counts[corpus.ids] / corpus.counts.sum()
    keep = rng.random(len(corpus)) < np.sqrt(t / frequency)
    return Corpus(ids=corpus.ids[keep], sentence=corpus.sentence[keep], counts=corpus.counts)


def context_windows(corpus: Corpus, max_window: int, rng: np.random.Generator) -> ContextWindows:
    """For every token, a window size drawn from 1..max_window and the words within it in the
    same sentence; tokens with no such word (one-word sentences) are left out."""
    if max_window < 1:
        raise ValueError(f"max_window must be >= 1, got {max_window}")
    count = len(corpus)
    # First and one-past-last position of each token's sentence.
    boundaries = np.flatnonzero(np.diff(corpus.sentence)) + 1
    starts = np.concatenate(([0], boundaries))
    ends = np.concatenate((boundaries, [count]))
    run = np.searchsorted(starts, np.arange(count), side="right") - 1
    start, end = starts[run], ends[run]

    window = rng.integers(1, max_window + 1, size=count)
    offsets = np.concatenate((np.arange(-max_window, 0), np.arange(1, max_window + 1)))
    position = np.arange(count)[:, None] + offsets[None, :]
    mask = (np.abs(offsets)[None, :] <= window[:, None]) & (position >= start[:, None])
    mask &= position < end[:, None]
    contexts = np.where(mask, corpus.ids[np.clip(position, 0, max(count - 1, 0))], 0)
    has_context = mask.any(axis=1)
    return ContextWindows(
        centers=corpus.ids[has_context], contexts=contexts[has_context], mask=mask[has_context]
    )


def noise_weights(counts: np.ndarray, power: float = 0.75) -> np.ndarray:
    """Sampling probabilities of noise words: count^0.75, normalised; ``<unk>`` never drawn."""
    weights = counts.astype(np.float64) ** power
    weights[0] = 0.0
    return weights / weights.sum()


def sample_negatives(
    positives: np.ndarray,
    needed: np.ndarray,
    width: int,
    probabilities: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Noise words for each row, none equal to one of the row's positive words.

    Args:
        positives (int64[N, P]): the row's true words (padding 0 is never drawn anyway).
        needed (int64[N]): how many noise words the row needs, at most ``width``.
        width: columns of the result.
        probabilities (float64[V]): from :func:`noise_weights`.

    Returns:
        negatives (int64[N, width]) padded with 0, and mask (bool[N, width]) of the real ones.
    """
    rows = len(positives)
    mask = np.arange(width)[None, :] < needed[:, None]
    cumulative = np.cumsum(probabilities)
    negatives = np.zeros((rows, width), dtype=np.int64)
    todo = mask.copy()
    # Draw, then redraw only the draws that hit a positive word; few remain after each round.
    while todo.any():
        draws = np.searchsorted(
            cumulative, rng.random(int(todo.sum())) * cumulative[-1], side="right"
        )
        negatives[todo] = np.minimum(draws, len(probabilities) - 1)
        clash = (negatives[:, :, None] == positives[:, None, :]).any(axis=2)
        todo = clash & mask
    return negatives, mask

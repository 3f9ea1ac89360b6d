from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.text.sampling import (
    build_corpus,
    context_windows,
    noise_weights,
    sample_negatives,
    subsample,
)
from models.text.vocab import UNK, Vocab

SENTENCES = [["a", "b", "c", "a"], ["b", "x"], ["a"], ["c", "a", "b", "b", "c"]]


def test_vocab_and_corpus_drop_rare_words_and_unk():
    vocab = Vocab(SENTENCES + [[UNK, UNK, UNK]], min_freq=2)
    assert vocab.idx_to_token == [UNK, "a", "b", "c"]  # by frequency: a 4, b 4, c 3; x is rare
    corpus = build_corpus(SENTENCES, vocab)
    assert len(corpus) == 11  # 12 tokens less the one "x"
    assert corpus.counts.tolist() == [0, 4, 4, 3]
    assert corpus.sentence.tolist() == [0, 0, 0, 0, 1, 2, 3, 3, 3, 3, 3]


def test_subsampling_keeps_rare_words_and_thins_frequent_ones():
    vocab = Vocab([["the"] * 9_000 + ["rare"] * 10], min_freq=1)
    corpus = build_corpus([["the"] * 9_000 + ["rare"] * 10], vocab)
    kept = subsample(corpus, t=1e-2, rng=np.random.default_rng(0))
    rare = vocab.index("rare")
    assert (kept.ids == rare).sum() == 10  # sqrt(t / f) > 1: always kept
    the_share = (kept.ids == vocab.index("the")).sum() / 9_000
    expected = np.sqrt(1e-2 / (9_000 / 9_010))  # d2l: keep with probability sqrt(t / f)
    assert the_share == pytest.approx(expected, abs=0.01)


@given(
    st.lists(st.lists(st.sampled_from("abcdefg"), min_size=0, max_size=9), min_size=1, max_size=8),
    st.integers(1, 4),
    st.integers(0, 2**32 - 1),
)
def test_windows_hold_exactly_the_words_within_each_drawn_window(sentences, max_window, seed):
    vocab = Vocab(sentences, min_freq=1)
    corpus = build_corpus(sentences, vocab)
    windows = context_windows(corpus, max_window, np.random.default_rng(seed))
    # The same generator draws the same window sizes; rebuild d2l's loop by hand.
    sizes = np.random.default_rng(seed).integers(1, max_window + 1, size=len(corpus))
    expected, position = [], 0
    for sentence in sentences:
        ids = vocab.indices(sentence)
        for i in range(len(ids)):
            w = sizes[position + i]
            context = [ids[j] for j in range(max(0, i - w), min(len(ids), i + 1 + w)) if j != i]
            if context:
                expected.append((ids[i], sorted(context)))
        position += len(ids)
    got = [
        (int(center), sorted(contexts[mask].tolist()))
        for center, contexts, mask in zip(
            windows.centers, windows.contexts, windows.mask, strict=True
        )
    ]
    assert got == expected


def test_noise_never_hits_a_positive_word_and_follows_count_to_the_075():
    counts = np.array([0, 1000, 100, 10, 1])
    probabilities = noise_weights(counts)
    assert probabilities[0] == 0
    assert probabilities[1:] == pytest.approx(counts[1:] ** 0.75 / (counts[1:] ** 0.75).sum())
    rng = np.random.default_rng(0)
    positives = np.array([[1, 2], [3, 0]] * 5_000)
    needed = np.array([6, 3] * 5_000)
    noise, mask = sample_negatives(positives, needed, 8, probabilities, rng)
    assert mask.sum(axis=1).tolist() == needed.tolist()
    assert (noise[~mask] == 0).all()
    real = noise[mask]
    assert ((real >= 1) & (real <= 4)).all(), "never <unk> (index 0)"
    assert not (noise[:, :, None] == positives[:, None, :])[mask].any()
    # Rows that exclude {3} draw 1, 2 and 4 in proportion to count^0.75.
    drawn = noise[1::2][mask[1::2]]
    share = np.bincount(drawn, minlength=5)[[1, 2, 4]] / len(drawn)
    weights = probabilities[[1, 2, 4]] / probabilities[[1, 2, 4]].sum()
    assert share == pytest.approx(weights, abs=0.01)

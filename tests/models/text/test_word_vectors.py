from __future__ import annotations

from pathlib import Path

import pytest
import torch

from models.text.word_vectors import (
    UnknownWordError,
    WordVectors,
    read_word_vectors,
    save_word_vectors,
)

TOKENS = ["<unk>", "chip", "chips", "intel", "cat", "dog", "N"]
EMBEDDING = torch.tensor(
    [
        [5.0, 5.0],  # <unk>: closest to everything, must never be answered
        [1.0, 0.1],
        [1.0, 0.2],
        [0.9, 0.0],
        [-1.0, 0.3],
        [-1.0, 0.2],
        [0.0, -1.0],
    ]
)


@pytest.fixture
def vectors() -> WordVectors:
    return WordVectors(EMBEDDING, TOKENS, torch.device("cpu"))


def cosine(a: int, b: int) -> float:
    return float(torch.nn.functional.cosine_similarity(EMBEDDING[a], EMBEDDING[b], dim=0))


def test_similar_is_by_cosine_without_the_word_itself_or_unk(vectors):
    result = vectors.similar("chip", 3)
    assert [word for word, _ in result] == ["chips", "intel", "N"]
    assert result[0][1] == pytest.approx(cosine(1, 2))
    assert [s for _, s in result] == sorted((s for _, s in result), reverse=True)
    assert len(vectors.similar("chip", 100)) == 5  # every other word, no more


def test_lookup_is_case_insensitive_but_keeps_exact_spellings(vectors):
    assert vectors.similar("CHIP", 1) == vectors.similar("chip", 1)
    assert vectors.lookup("N") == 6


def test_unknown_words_come_with_close_spellings(vectors):
    with pytest.raises(UnknownWordError) as raised:
        vectors.similar("chipz", 3)
    assert raised.value.word == "chipz"
    assert raised.value.suggestions[:2] == ["chip", "chips"]
    assert "'chipz' is not in the vocabulary (6 words); did you mean chip, chips" in str(
        raised.value
    )
    with pytest.raises(UnknownWordError):
        vectors.lookup("<unk>")


def test_similarity_and_analogy(vectors):
    assert vectors.similarity("cat", "dog") == pytest.approx(cosine(4, 5))
    answers = [word for word, _ in vectors.analogy("cat", "dog", "chip", 3)]
    assert not {"cat", "dog", "chip", "<unk>"} & set(answers)
    target = torch.nn.functional.normalize(
        vectors.unit[5] - vectors.unit[4] + vectors.unit[1], dim=0
    )
    best = max((i for i in (2, 3, 6)), key=lambda i: float(vectors.unit[i] @ target))
    assert answers[0] == TOKENS[best]


def test_completion_by_prefix_most_frequent_first(vectors):
    assert vectors.complete("chi", 10) == ["chip", "chips"]
    assert vectors.complete("CH", 1) == ["chip"]
    assert vectors.complete("zz", 10) == []
    assert vectors.complete("", 3) == ["chip", "chips", "intel"]


def test_files_round_trip_with_their_metadata(tmp_path: Path):
    path = tmp_path / "vectors.safetensors"
    save_word_vectors(path, EMBEDDING, TOKENS, {"arch": "skipgram", "metrics": {"loss": 0.4}})
    embedding, tokens, info = read_word_vectors(path)
    torch.testing.assert_close(embedding, EMBEDDING)
    assert tokens == TOKENS
    assert info == {"arch": "skipgram", "metrics": {"loss": 0.4}}
    loaded = WordVectors.load(path, torch.device("cpu"))
    assert loaded.similar("chip", 2) == WordVectors(EMBEDDING, TOKENS, torch.device("cpu")).similar(
        "chip", 2
    )
    with pytest.raises(ValueError, match="7 vectors for 6 tokens"):
        save_word_vectors(path, EMBEDDING, TOKENS[:-1], {})

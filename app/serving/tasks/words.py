"""Word vectors (``task: word2vec``): skip-gram or CBOW embeddings, queried on the event loop.

A query is a matrix-vector product and a top-k, tens of microseconds: batching would only add
latency, so word-vector models have no batcher.
"""

from __future__ import annotations

from typing import ClassVar, Self

from app.serving.tasks.base import Placement, ServedTask, require_finite
from models.manifest import ManifestEntry
from models.text.word_vectors import WordVectors


class WordVectorsTask(ServedTask[None, None]):
    kind: ClassVar[str] = "word2vec"
    title: ClassVar[str] = "word2vec"
    batched: ClassVar[bool] = False
    reduced_precision: ClassVar[bool] = False

    def __init__(self, vectors: WordVectors) -> None:
        self.vectors = vectors

    @classmethod
    def load(cls, entry: ManifestEntry, placement: Placement) -> Self:
        vectors = WordVectors.load(entry.file, placement.device)
        require_finite([("embedding", vectors.unit)], "the word vectors'")
        vectors.similar(vectors.tokens[1], 10)  # warm-up: a real query on the device
        return cls(vectors)

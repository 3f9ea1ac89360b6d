"""Word vectors (``task: word2vec``): skip-gram or CBOW embeddings, and their queries
``/similar``, ``/similarity``, ``/analogy`` and ``/vocabulary``.

The vectors are unit-normalised on the model's device at load, so a query is a matrix-vector
product and a top-k: less than a hop to a thread pool costs. These endpoints run on the event
loop (concurrent BLAS calls from pool threads would contend), and word-vector models have no
batcher: batching would only add latency.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Self

from fastapi import APIRouter, Depends, Query
from pydantic import AfterValidator

from app.schemas.common import ErrorMessage
from app.schemas.words import (
    MAX_COMPLETIONS,
    MAX_NEIGHBORS,
    Analogy,
    Completions,
    Neighbor,
    SimilarWords,
    WordSimilarity,
)
from app.serving.admission import model_dependency
from app.serving.served import ServedModel
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
    def routes(cls) -> APIRouter:
        return router

    @classmethod
    def load(cls, entry: ManifestEntry, placement: Placement) -> Self:
        vectors = WordVectors.load(entry.file, placement.device)
        require_finite([("embedding", vectors.unit)], "the word vectors'")
        vectors.similar(vectors.tokens[1], 10)  # warm-up: a real query on the device
        return cls(vectors)


router = APIRouter(
    tags=["words"],
    responses={
        404: {"model": ErrorMessage, "description": "Unknown word (with suggestions) or model."},
        503: {"model": ErrorMessage, "description": "The model is loading or failed to load."},
    },
)

WordModel = Annotated[ServedModel[WordVectorsTask], Depends(model_dependency(WordVectorsTask))]


def _not_blank(word: str) -> str:
    """The word without the spaces around it (a query typed with a space finds its word)."""
    if not word.strip():
        raise ValueError("the word is empty: give a word such as chip")
    return word.strip()


Word = Annotated[str, Query(min_length=1, max_length=100), AfterValidator(_not_blank)]
K = Annotated[int, Query(ge=1, le=MAX_NEIGHBORS, description="How many neighbours.")]


@router.get("/similar", summary="The words closest to a word (cosine similarity)")
async def similar(word: Word, model: WordModel, k: K = 10) -> SimilarWords:
    vectors = model.task.vectors
    found = vectors.tokens[vectors.lookup(word)]
    return SimilarWords(
        word=found, model=model.name, neighbors=_neighbors(vectors.similar(found, k))
    )


@router.get("/similarity", summary="Cosine similarity of two words")
async def similarity(a: Word, b: Word, model: WordModel) -> WordSimilarity:
    vectors = model.task.vectors
    first, second = vectors.tokens[vectors.lookup(a)], vectors.tokens[vectors.lookup(b)]
    return WordSimilarity(
        a=first, b=second, model=model.name, similarity=vectors.similarity(first, second)
    )


@router.get(
    "/analogy",
    summary="a is to b as c is to ? (3CosAdd)",
    description="The words closest to b - a + c, the three inputs excluded: "
    "a=man, b=king, c=woman asks for the word that is to woman what king is to man.",
)
async def analogy(a: Word, b: Word, c: Word, model: WordModel, k: K = 5) -> Analogy:
    vectors = model.task.vectors
    a, b, c = (vectors.tokens[vectors.lookup(word)] for word in (a, b, c))
    return Analogy(
        a=a, b=b, c=c, model=model.name, neighbors=_neighbors(vectors.analogy(a, b, c, k))
    )


@router.get("/vocabulary", summary="Vocabulary words by prefix, for autocomplete")
async def vocabulary(
    model: WordModel,
    prefix: Annotated[str, Query(max_length=100)] = "",
    limit: Annotated[int, Query(ge=1, le=MAX_COMPLETIONS)] = 20,
) -> Completions:
    vectors = model.task.vectors
    return Completions(
        model=model.name,
        prefix=prefix,
        words=vectors.complete(prefix, limit),
        vocabulary_size=vectors.word_count,
    )


def _neighbors(pairs: list[tuple[str, float]]) -> list[Neighbor]:
    return [Neighbor(word=word, similarity=score) for word, score in pairs]

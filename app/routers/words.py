"""Word-vector queries: ``/similar``, ``/similarity``, ``/analogy``, ``/vocabulary``.

Each picks a word2vec model (``model``, default ``D2L_DEFAULT_WORD_MODEL``) from the registry;
the vectors are unit-normalised on the model's device at load, so a query is a matrix-vector
product and a top-k: tens of microseconds. That is less than a hop to the thread pool costs, so
these endpoints run on the event loop (and concurrent BLAS calls from pool threads contend).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import AfterValidator

from app.deps import RegistryDep, SettingsDep
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
from models.text.word_vectors import WordVectors

TASK = "word2vec"

router = APIRouter(
    tags=["words"],
    responses={
        404: {"model": ErrorMessage, "description": "Unknown word (with suggestions) or model."},
        503: {"model": ErrorMessage, "description": "The model is loading or failed to load."},
    },
)


@dataclass(frozen=True)
class WordModel:
    name: str
    vectors: WordVectors


async def get_word_model(
    registry: RegistryDep,
    settings: SettingsDep,
    model: Annotated[
        str | None,
        Query(description="A word2vec model from /models; default word2vec-skipgram-ptb."),
    ] = None,
) -> WordModel:
    name = model or settings.default_word_model
    return WordModel(name, registry.get(name, TASK).model)


WordModelDep = Annotated[WordModel, Depends(get_word_model)]


def _not_blank(word: str) -> str:
    if not word.strip():
        raise ValueError("the word is empty: give a word such as chip")
    return word


Word = Annotated[str, Query(min_length=1, max_length=100), AfterValidator(_not_blank)]
K = Annotated[int, Query(ge=1, le=MAX_NEIGHBORS, description="How many neighbours.")]


@router.get("/similar", summary="The words closest to a word (cosine similarity)")
async def similar(word: Word, model: WordModelDep, k: K = 10) -> SimilarWords:
    vectors = model.vectors
    found = vectors.tokens[vectors.lookup(word)]
    return SimilarWords(
        word=found, model=model.name, neighbors=_neighbors(vectors.similar(found, k))
    )


@router.get("/similarity", summary="Cosine similarity of two words")
async def similarity(a: Word, b: Word, model: WordModelDep) -> WordSimilarity:
    vectors = model.vectors
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
async def analogy(a: Word, b: Word, c: Word, model: WordModelDep, k: K = 5) -> Analogy:
    vectors = model.vectors
    a, b, c = (vectors.tokens[vectors.lookup(word)] for word in (a, b, c))
    return Analogy(
        a=a, b=b, c=c, model=model.name, neighbors=_neighbors(vectors.analogy(a, b, c, k))
    )


@router.get("/vocabulary", summary="Vocabulary words by prefix, for autocomplete")
async def vocabulary(
    model: WordModelDep,
    prefix: Annotated[str, Query(max_length=100)] = "",
    limit: Annotated[int, Query(ge=1, le=MAX_COMPLETIONS)] = 20,
) -> Completions:
    vectors = model.vectors
    return Completions(
        model=model.name,
        prefix=prefix,
        words=vectors.complete(prefix, limit),
        vocabulary_size=len(vectors) - 1,
    )


def _neighbors(pairs: list[tuple[str, float]]) -> list[Neighbor]:
    return [Neighbor(word=word, similarity=score) for word, score in pairs]

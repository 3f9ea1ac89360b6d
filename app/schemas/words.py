"""Schemas of the word-vector endpoints."""

from __future__ import annotations

from pydantic import BaseModel, Field

MAX_NEIGHBORS = 100
MAX_COMPLETIONS = 1_000


class Neighbor(BaseModel):
    word: str
    similarity: float = Field(description="Cosine similarity, in [-1, 1].")


class SimilarWords(BaseModel):
    word: str = Field(description="The query word as spelled in the vocabulary.")
    model: str
    neighbors: list[Neighbor] = Field(description="By decreasing similarity.")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "word": "chip",
                    "model": "word2vec-skipgram-ptb",
                    "neighbors": [{"word": "microprocessor", "similarity": 0.846}],
                }
            ]
        }
    }


class WordSimilarity(BaseModel):
    a: str
    b: str
    model: str
    similarity: float = Field(description="Cosine similarity of the two words, in [-1, 1].")


class Analogy(BaseModel):
    a: str
    b: str
    c: str
    model: str
    neighbors: list[Neighbor] = Field(
        description="Words closest to b - a + c (3CosAdd), a, b and c excluded."
    )


class Completions(BaseModel):
    model: str
    prefix: str
    words: list[str] = Field(description="Vocabulary words with the prefix, most frequent first.")
    vocabulary_size: int

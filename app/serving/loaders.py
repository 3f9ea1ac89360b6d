"""Loaders by manifest task: each builds a servable model on the device and warms it up, so the
first request is as fast as the others."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import torch

from app.serving.registry import Loader
from models.manifest import ManifestEntry
from models.text.word_vectors import WordVectors


def load_word2vec(entry: ManifestEntry, device: torch.device) -> WordVectors:
    vectors = WordVectors.load(entry.file, device)
    vectors.similar(vectors.tokens[1], 10)  # warm-up: a real query on the device
    return vectors


LOADERS: Mapping[str, Loader] = MappingProxyType({"word2vec": load_word2vec})

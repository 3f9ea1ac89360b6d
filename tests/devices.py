"""What the service picks on the machine the tests run on, from the same resolver the app uses,
so expectations hold on a CPU host and on a GPU host alike."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from models.device import describe_device, resolve_device
from models.manifest import ManifestEntry
from models.numerics import choose_dtype, dtype_name

SERVING_DEVICE = resolve_device("auto")
SERVING_DEVICE_NAME = describe_device(SERVING_DEVICE)
ON_GPU = SERVING_DEVICE.type == "cuda"


def serving_dtype(numerics: dict[str, Any] | None = None) -> str:
    """What ``D2L_DTYPE=auto`` gives a model with these measured ``numerics`` here."""
    return dtype_name(choose_dtype("auto", SERVING_DEVICE, numerics).dtype)


def entry_dtype(entry: ManifestEntry) -> str:
    """The type ``auto`` serves a committed model in (word vectors: always float32)."""
    if entry.task == "word2vec":
        return "float32"
    return serving_dtype(entry.info.get("numerics"))


# The tests' own models carry no measured numerics: auto serves them in float32.
SERVING_DTYPE = serving_dtype()
# Answers of the same model in another batch: equal to float32 rounding; a half-precision type
# keeps about three decimals.
SCORE_TOLERANCE = 1e-4 if SERVING_DTYPE == "float32" else 1e-2
PIXEL_TOLERANCE = 1e-3 if SERVING_DTYPE == "float32" else 1.0

needs_cuda = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU (run on a GPU machine)"
)

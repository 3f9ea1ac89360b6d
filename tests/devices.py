"""What the service picks on the machine the tests run on, from the same resolver the app uses,
so expectations hold on a CPU host and on a GPU host alike."""

from __future__ import annotations

import pytest
import torch

from models.device import describe_device, resolve_device, resolve_dtype

SERVING_DEVICE = resolve_device("auto")
SERVING_DEVICE_NAME = describe_device(SERVING_DEVICE)
SERVING_DTYPE = str(resolve_dtype("auto", SERVING_DEVICE)).removeprefix("torch.")
ON_GPU = SERVING_DEVICE.type == "cuda"
# Answers of the same model in another batch: equal to float32 rounding on the CPU; float16 (a
# GPU's default) keeps about three decimals.
SCORE_TOLERANCE = 1e-4 if SERVING_DTYPE == "float32" else 1e-2
PIXEL_TOLERANCE = 1e-3 if SERVING_DTYPE == "float32" else 1.0

needs_cuda = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU (run on a GPU machine)"
)

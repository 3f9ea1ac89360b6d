"""What the service should pick on the machine the tests run on, worked out here from the
machine's own facts (``/proc/cpuinfo``, CUDA) and a table of the rule ``D2L_DTYPE=auto``
follows (docs/deployment.md): never from the code under test, so a wrong choice fails."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from models.device import describe_device, resolve_device
from models.manifest import ManifestEntry

SERVING_DEVICE = resolve_device("auto")
SERVING_DEVICE_NAME = describe_device(SERVING_DEVICE)
ON_GPU = SERVING_DEVICE.type == "cuda"


def cpu_flags() -> set[str]:
    """The CPU's feature flags as Linux lists them (empty elsewhere)."""
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        return set()
    for line in cpuinfo.read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


# AVX-512 BF16 or AMX: the CPUs whose bfloat16 kernels run fast (oneDNN's own test).
CPU_HAS_FAST_BFLOAT16 = bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})
TOLERANCE = 0.005  # how far below float32 a reduced format's measured metric may be

# (device kind, the CPU has fast bfloat16) -> the reduced formats auto tries, preferred first.
FAST_FORMATS = {
    ("cuda", True): ["float16", "bfloat16"],
    ("cuda", False): ["float16", "bfloat16"],
    ("cpu", True): ["bfloat16"],
    ("cpu", False): [],
}


def expected_dtype(
    numerics: dict[str, Any] | None, device: str | None = None, fast_bf16: bool | None = None
) -> str:
    """The format auto must give a model with these measured ``numerics`` (here, unless the
    device kind and CPU kind are given)."""
    device = device or SERVING_DEVICE.type
    fast_bf16 = CPU_HAS_FAST_BFLOAT16 if fast_bf16 is None else fast_bf16
    measured = numerics or {}
    reference = measured.get("float32")
    for name in FAST_FORMATS[(device, fast_bf16)]:
        value = measured.get(name)
        numbers = isinstance(reference, float) and isinstance(value, float)
        if numbers and reference - value <= TOLERANCE:
            return name
    return "float32"


def entry_dtype(entry: ManifestEntry) -> str:
    """The type ``auto`` serves a committed model in (word vectors: always float32)."""
    if entry.task == "word2vec":
        return "float32"
    return expected_dtype(entry.info.get("numerics"))


# The tests' own models carry no measured numerics: auto serves them in float32...
SERVING_DTYPE = expected_dtype(None)
# ...for this reason, shown in /models.
UNMEASURED_REASON = (
    "auto: the model's quality in other formats was never measured "
    "(python -m models.evaluate NAME --dtype all)"
    if FAST_FORMATS[(SERVING_DEVICE.type, CPU_HAS_FAST_BFLOAT16)]
    else "auto: this device has no fast half-precision format"
)
# Answers of the same model in another batch: equal to float32 rounding; a half-precision type
# keeps about three decimals.
SCORE_TOLERANCE = 1e-4 if SERVING_DTYPE == "float32" else 1e-2
PIXEL_TOLERANCE = 1e-3 if SERVING_DTYPE == "float32" else 1.0

needs_cuda = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU (run on a GPU machine)"
)

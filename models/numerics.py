"""Which floating-point format a model is served in.

With ``auto``, each model gets the fastest format its device computes well, but only one the
model was *measured* to keep its quality in: the manifest entry's ``numerics`` (written by
``python -m models.evaluate NAME --dtype all``) holds its metric in each format, and a reduced
format is taken only within :data:`TOLERANCES` of float32's figure. Anything else (a format
not measured, a drop too large, a device without fast half precision) serves float32.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from models.device import resolve_dtype

# How far below float32 a reduced format's metric may be: half an accuracy point, 0.005 mAP.
TOLERANCES = {"accuracy": 0.005, "map": 0.005}


@dataclass(frozen=True)
class DtypeChoice:
    """A model's numeric format and why it was chosen (what ``/models`` shows)."""

    dtype: torch.dtype
    reason: str


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def tolerance_of(metric: str) -> float:
    """The allowed drop of ``metric`` (``test_accuracy``, ``val_accuracy``, ``map``...)."""
    for kind, tolerance in TOLERANCES.items():
        if kind in metric:
            return tolerance
    raise ValueError(f"metric must measure accuracy or map, got {metric!r}")


def cpu_has_fast_bfloat16() -> bool:
    """AVX-512 BF16 or AMX, as oneDNN sees them (its bfloat16 kernels run fast there)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a build without oneDNN
        return False


def fast_dtypes(device: torch.device) -> list[torch.dtype]:
    """The reduced-precision formats ``device`` computes fast, preferred first: float16 then
    bfloat16 on a GPU (float16 keeps 3 more mantissa bits), bfloat16 on a CPU with AVX-512
    BF16 or AMX, none elsewhere."""
    if device.type == "cuda":
        return [torch.float16] + ([torch.bfloat16] if torch.cuda.is_bf16_supported() else [])
    return [torch.bfloat16] if cpu_has_fast_bfloat16() else []


def choose_dtype(
    setting: str, device: torch.device, numerics: Mapping[str, Any] | None
) -> DtypeChoice:
    """The format of one model: ``setting`` (``D2L_DTYPE``) when it names one, else ``auto``'s
    choice from the model's measured ``numerics`` (``{"metric": ..., "float32": ...,
    "bfloat16": ...}``); float16 on the CPU is refused as :func:`resolve_dtype` does."""
    setting = setting.strip().lower()
    if setting != "auto":
        return DtypeChoice(resolve_dtype(setting, device), f"set: D2L_DTYPE={setting}")
    fast = fast_dtypes(device)
    if not fast:
        return DtypeChoice(torch.float32, "auto: this device has no fast half-precision format")
    measured = numerics if isinstance(numerics, Mapping) else {}
    metric, reference = measured.get("metric"), measured.get("float32")
    if not isinstance(metric, str) or not _is_number(reference):
        return DtypeChoice(
            torch.float32,
            "auto: the model's quality in other formats was never measured "
            "(python -m models.evaluate NAME --dtype all)",
        )
    try:
        tolerance = tolerance_of(metric)
    except ValueError:
        return DtypeChoice(torch.float32, "auto: the measured metric has no tolerance set")
    refused = []
    for dtype in fast:
        name, value = dtype_name(dtype), measured.get(dtype_name(dtype))
        if not _is_number(value):
            refused.append(f"{name} not measured")
        elif reference - value > tolerance:
            refused.append(f"{name} loses {reference - value:.4f} {metric}")
        else:
            return DtypeChoice(
                dtype,
                f"auto: {name} runs fast here and keeps {metric} {value:.4f} "
                f"within {tolerance} of float32's {reference:.4f}",
            )
    return DtypeChoice(torch.float32, f"auto: float32 ({'; '.join(refused)})")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)

"""The one place that decides which device models run on."""

from __future__ import annotations

import torch

from models.errors import InvalidInputError


def resolve_device(spec: str = "auto") -> torch.device:
    """Turn ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` into an available :class:`torch.device`.

    ``auto`` takes the first CUDA GPU when one is available and the CPU otherwise; asking for a
    GPU that is not there is an error rather than a silent fallback.
    """
    spec = spec.strip().lower()
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except RuntimeError as error:
        raise InvalidInputError(
            f"device {spec!r} is not a device: use auto, cpu, cuda or cuda:N ({error})", "device"
        ) from None
    if device.type == "cuda":
        count = torch.cuda.device_count()
        if count == 0:
            raise InvalidInputError(
                f"device {spec!r} asked for, but no CUDA GPU is available", "device"
            )
        if device.index is not None and device.index >= count:
            raise InvalidInputError(
                f"device {spec!r} asked for, but only {count} CUDA GPU(s) are available", "device"
            )
    elif device.type != "cpu":
        raise InvalidInputError(
            f"device {spec!r} is not supported: use auto, cpu, cuda or cuda:N", "device"
        )
    return device


def describe_device(device: torch.device) -> str:
    """A human-readable name, e.g. ``cuda:0 (NVIDIA H100 80GB HBM3)`` or ``cpu``."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return "cpu"


DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def resolve_dtype(spec: str, device: torch.device) -> torch.dtype:
    """The floating-point type ``spec`` names, checked against ``device``: float16 on the CPU
    is refused (its kernels there are slow or missing: bfloat16 is the CPU's half precision).
    ``auto`` gives float32, the reference; serving resolves ``auto`` per model from what each
    was measured to keep its quality in (:func:`models.numerics.choose_dtype`)."""
    spec = spec.strip().lower()
    if spec == "auto":
        return torch.float32
    if spec not in DTYPES:
        raise InvalidInputError(f"dtype {spec!r} is not one of auto, {', '.join(DTYPES)}", "dtype")
    if spec == "float16" and device.type == "cpu":
        raise InvalidInputError(
            "dtype float16 is for GPUs: on the CPU use bfloat16 or float32", "dtype"
        )
    return DTYPES[spec]

"""Argument checks the ops share: each raises :class:`InvalidInputError` naming the argument."""

from __future__ import annotations

from torch import Tensor

from models.errors import InvalidInputError


def check_unit_interval(value: float, name: str) -> None:
    """Raise unless ``value`` lies in [0, 1]."""
    if not 0.0 <= value <= 1.0:
        raise InvalidInputError(f"{name} must be in [0, 1], got {value}", name)


def check_shape(tensor: Tensor, shape: tuple[int | None, ...], name: str) -> None:
    """Raise unless ``tensor`` has ``shape`` (None matches any size)."""
    ok = tensor.dim() == len(shape) and all(
        want is None or have == want for have, want in zip(tensor.shape, shape, strict=True)
    )
    if not ok:
        wanted = "x".join("N" if want is None else str(want) for want in shape)
        raise InvalidInputError(f"{name} must have shape {wanted}, got {list(tensor.shape)}", name)

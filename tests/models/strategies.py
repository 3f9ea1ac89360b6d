"""Hypothesis strategies for boxes and anchors."""

from __future__ import annotations

import torch
from hypothesis import strategies as st

coordinate = st.floats(min_value=-100.0, max_value=100.0, allow_nan=False, width=64)
extent = st.floats(min_value=0.5, max_value=60.0, allow_nan=False, width=64)


@st.composite
def boxes(draw, min_size: int = 0, max_size: int = 30, empty: bool = False) -> torch.Tensor:
    """xyxy boxes, Tensor[N, 4] float64; with ``empty``, some have zero width or height."""
    n = draw(st.integers(min_size, max_size))
    rows = []
    for _ in range(n):
        x1, y1 = draw(coordinate), draw(coordinate)
        w, h = draw(extent), draw(extent)
        if empty and draw(st.booleans()):
            w = 0.0
        rows.append([x1, y1, x1 + w, y1 + h])
    return torch.tensor(rows, dtype=torch.float64).reshape(-1, 4)


@st.composite
def unit_boxes(draw, min_size: int = 1, max_size: int = 20) -> torch.Tensor:
    """xyxy boxes inside the unit square with positive size, like anchors and labels."""
    n = draw(st.integers(min_size, max_size))
    corner = st.floats(0.0, 0.8, allow_nan=False, width=64)
    size = st.floats(0.05, 0.6, allow_nan=False, width=64)
    rows = []
    for _ in range(n):
        x1, y1, w, h = draw(corner), draw(corner), draw(size), draw(size)
        rows.append([x1, y1, x1 + w, y1 + h])
    return torch.tensor(rows, dtype=torch.float64)


def distinct_scores(n: int):
    """n distinct scores, so the order of suppression is defined."""
    return st.lists(
        st.floats(0.0, 1.0, allow_nan=False, width=64), min_size=n, max_size=n, unique=True
    ).map(lambda values: torch.tensor(values, dtype=torch.float64))

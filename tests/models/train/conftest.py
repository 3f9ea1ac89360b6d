"""What the training tests share: a tiny detection set."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.images import noise_image


@pytest.fixture(scope="session")
def squares(tmp_path_factory) -> Path:
    """40 white squares of random sides on noise, in d2l's CSV layout."""
    root = tmp_path_factory.mktemp("squares")
    (root / "images").mkdir()
    rng = random.Random(0)
    rows = ["img_name,label,xmin,ymin,xmax,ymax"]
    for index in range(40):
        image = noise_image((96, 96), 40, seed=index).convert("RGB")
        side = rng.randint(24, 48)
        x, y = rng.randint(0, 96 - side), rng.randint(0, 96 - side)
        image.paste((255, 255, 255), (x, y, x + side, y + side))
        image.save(root / "images" / f"{index:03d}.png")
        rows.append(f"{index:03d}.png,0,{x},{y},{x + side},{y + side}")
    (root / "label.csv").write_text("\n".join(rows) + "\n")
    return root

"""The shared data sets the tests read (``D2L_DATA_DIR``, else ``../shared/data`` beside the
checkout), and what a test does when one is absent: it skips on a contributor's checkout
without them, and *fails* where they must be (``D2L_REQUIRE_DATA=1`` or ``CI=true``, as
``.ci/run`` sets), so no claim passes there having measured nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("D2L_DATA_DIR") or ROOT.parent / "shared" / "data")
REQUIRED = os.environ.get("D2L_REQUIRE_DATA") == "1" or os.environ.get("CI") == "true"


def needs_data(*paths: str) -> pytest.MarkDecorator:
    """Mark a test that reads ``DATA / path`` for each path (checked before it runs)."""
    return pytest.mark.needs_data(*paths)


def check_data(item: pytest.Item) -> None:
    """Skip, or fail where the data are required, a test whose data are absent."""
    for mark in item.iter_markers("needs_data"):
        missing = [path for path in mark.args if not (DATA / path).exists()]
        if missing:
            message = f"{', '.join(missing)} absent from the data folder {DATA} (D2L_DATA_DIR)"
            if REQUIRED:
                pytest.fail(f"{message}; D2L_REQUIRE_DATA=1 or CI=true: it must be there")
            pytest.skip(message)


def data_path(path: str) -> Path:
    """A path as the docs write it (``../shared/data/...``) in ``DATA``."""
    return DATA / path.removeprefix("../shared/data/")

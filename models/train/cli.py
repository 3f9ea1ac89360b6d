"""What the training commands record about how they were run."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any


def command_line(kind: str, args: argparse.Namespace, skip: frozenset[str] = frozenset()) -> str:
    """``python -m models.train KIND`` with every option of ``args`` spelled out (flags that
    are off and unset options left out; ``skip`` names options that do not shape the result)."""
    words = ["python", "-m", "models.train", kind]
    for name, value in vars(args).items():
        if name in skip or value is None or value is False:
            continue
        flag = f"--{name.replace('_', '-')}"
        words += [flag] if value is True else [flag, str(value)]
    return shlex.join(words)


def plain_args(args: argparse.Namespace) -> dict[str, Any]:
    """The arguments as plain data (paths as strings), for a checkpoint."""
    values = vars(args).items()
    return {key: str(value) if isinstance(value, Path) else value for key, value in values}

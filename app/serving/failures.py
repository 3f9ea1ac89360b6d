"""Why a model failed to load, in one short clean line for clients.

``/health/ready`` is open without a key and every 503 of a failed model carries the reason, so it
must not carry what a library printed: terminal colour codes, multi-line advice (torch's "use
``weights_only=False``", which would be unsafe), paths or hashes. The full error goes to the log;
clients get this line.
"""

from __future__ import annotations

import pickle
import re

from models.errors import InvalidInputError
from models.manifest import ManifestError, WeightsFileError

MAX_REASON_CHARS = 160
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


class ModelLoadError(RuntimeError):
    """A failure this project describes itself (timeouts, non-finite weights): its message is
    already fit for clients."""


def one_line(text: str, limit: int = MAX_REASON_CHARS) -> str:
    """``text`` without terminal codes, on one line, at most ``limit`` characters."""
    text = _ANSI.sub("", text)
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    first = _CONTROL.sub(" ", first)
    return first if len(first) <= limit else first[: limit - 1].rstrip() + "…"


def describe_failure(error: BaseException) -> str:
    """A short, clean reason for ``error``."""
    if isinstance(error, ModelLoadError | WeightsFileError | ManifestError):
        return one_line(str(error))
    if isinstance(error, pickle.UnpicklingError):
        return (
            "the checkpoint holds Python objects, not only tensors: a safe (weights-only) load "
            "refuses it; save it with this project's training command"
        )
    if isinstance(error, InvalidInputError):  # its message may name a path: not for clients
        return "the checkpoint is not in the format this model's task expects"
    if type(error).__name__ == "SafetensorError":
        return "the safetensors file is damaged or not a safetensors file"
    if isinstance(error, RuntimeError) and "state_dict" in str(error):
        return "the checkpoint's tensors do not fit the model's architecture (names or shapes)"
    if isinstance(error, KeyError):
        return one_line(f"the checkpoint lacks the entry {error}")
    return one_line(f"the checkpoint could not be loaded ({type(error).__name__})")

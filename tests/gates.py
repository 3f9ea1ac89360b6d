"""Gates that tests hold threads at, opened however the test ends."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def opened_on_exit(gate: threading.Event) -> Iterator[threading.Event]:
    """Open ``gate`` when the block ends, a failed assertion included: the threads it holds
    finish, so a failing test reports at once instead of waiting out their timeout (name it
    after the thread pool in one ``with``: it exits first, before the pool joins)."""
    try:
        yield gate
    finally:
        gate.set()

"""Giving memory back to the system once the work that used it is over.

glibc keeps freed memory for reuse: blocks under its mmap threshold (which grows to 32 MB once
the models have run) stay in the heap of the thread that freed them, and Pillow allocates image
rows, and Python request bodies, in such blocks. After a burst of large or odd uploads the
process would stay gigabytes larger for good. ``malloc_trim`` returns the free pages of every
heap; it costs milliseconds, and the pages it returns must be faulted in again by the next
forward pass, so it runs

- right after a decode that allocated at least :data:`TRIM_AFTER_BYTES` (bounded peaks under a
  stream of large images), in the thread that decoded, never on the event loop;
- once the service has been idle for :data:`IDLE_S` after any work (:class:`IdleRelease`), so
  memory settles after a burst while steady traffic never pays for it.

Elsewhere than glibc it does nothing.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
from collections.abc import Iterator
from concurrent.futures import Executor
from contextlib import contextmanager

logger = logging.getLogger(__name__)

TRIM_AFTER_BYTES = 12 * 1024 * 1024  # a 4-megapixel RGB image
IDLE_S = 1.0


def _malloc_trim() -> ctypes._CFuncPtr | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_TRIM = _malloc_trim()


def release_freed_memory() -> bool:
    """Return the heaps' free pages to the system; False where that is not possible."""
    if _TRIM is None:
        return False
    _TRIM(0)
    return True


@contextmanager
def trimmed_after(allocated_bytes: int) -> Iterator[None]:
    """Run the block, then release freed memory if it followed an allocation of
    ``allocated_bytes`` at least :data:`TRIM_AFTER_BYTES` (what the block frees is released
    too)."""
    try:
        yield
    finally:
        if allocated_bytes >= TRIM_AFTER_BYTES:
            release_freed_memory()


class IdleRelease:
    """Counts the requests in flight (event loop only); when the last one ends and none follows
    for ``idle_s``, releases freed memory on ``pool``. ``releases`` counts the releases;
    ``settled`` is true from the end of a release to the next request."""

    def __init__(self, pool: Executor, idle_s: float = IDLE_S) -> None:
        self.pool = pool
        self.idle_s = idle_s
        self.in_flight = 0
        self.releases = 0
        self.settled = False
        self._timer: asyncio.TimerHandle | None = None

    def begin(self) -> None:
        self.in_flight += 1
        self.settled = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def end(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self.idle_s, self._release, loop)

    def _release(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        future = loop.run_in_executor(self.pool, release_freed_memory)
        future.add_done_callback(self._released)

    def _released(self, future: asyncio.Future[bool]) -> None:
        if not future.cancelled() and future.exception() is not None:
            logger.error("releasing freed memory failed: %s", future.exception())
            return
        self.releases += 1
        self.settled = self.in_flight == 0

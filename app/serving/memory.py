"""Giving the memory of a large upload back to the system once it has been turned into a small
model input.

glibc keeps freed memory for reuse: blocks under its mmap threshold (which grows to 32 MB once
the models have run) stay in each thread's heap, and Pillow allocates image rows in such
blocks. A few large decodes would leave the process gigabytes larger for good. ``malloc_trim``
returns the free pages of every heap; it costs milliseconds, so it runs only after a decode that
allocated at least :data:`TRIM_AFTER_BYTES`, in the thread that decoded (never on the event
loop). Elsewhere than glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from collections.abc import Iterator
from contextlib import contextmanager

logger = logging.getLogger(__name__)

TRIM_AFTER_BYTES = 12 * 1024 * 1024  # a 4-megapixel RGB image


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

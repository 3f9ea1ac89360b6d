"""A small thread pool, apart from the image models', for heavy requests that are not batched
(geometry), with its capacity."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from app.serving.capacity import Capacity

T = TypeVar("T")


class WorkPool:
    """A few threads, apart from the image models', for heavy requests that are not batched
    (geometry), with a capacity: at most ``capacity`` requests taken in, the rest refused.

    On Linux the threads run at a lower CPU priority (``nice``): when the image models and
    geometry both want the cores, the models get them, and geometry uses what is left.
    """

    def __init__(
        self, name: str, workers: int, capacity: int, setting: str, niceness: int = 10
    ) -> None:
        self.executor = ThreadPoolExecutor(
            workers, thread_name_prefix=name, initializer=_lower_priority, initargs=(niceness,)
        )
        self.capacity = Capacity(f"the {name} workers", capacity, "requests", setting)

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` on a pool thread, with the caller's context (request id)."""
        context = contextvars.copy_context()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, context.run, function, *args)

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=False)


def _lower_priority(niceness: int) -> None:
    """Raise the calling thread's nice value (Linux schedules threads one by one; threads it
    starts, such as torch's OpenMP workers, inherit it). Elsewhere, a no-op."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)

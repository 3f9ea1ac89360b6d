"""Work that must never hold the process: a call in a daemon thread, awaited with a deadline."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from app.serving.failures import ModelLoadError

T = TypeVar("T")


async def in_daemon_thread(function: Callable[..., T], *args: Any, timeout_s: float) -> T:
    """``function(*args)`` in a new daemon thread, awaited for at most ``timeout_s``.

    Unlike the default executor's threads, a daemon thread that never returns (a hung file
    system, a stuck driver) neither blocks the interpreter's exit nor a graceful shutdown.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def deliver(setter: Callable[[Any], None], value: Any) -> None:
        def settle() -> None:
            if not future.done():  # not given up on (timeout, shutdown)
                setter(value)

        # RuntimeError: the loop closed meanwhile, and nobody waits for the result.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle)

    def target() -> None:
        try:
            result = function(*args)
        except BaseException as error:  # noqa: BLE001 - handed to the awaiting coroutine
            deliver(future.set_exception, error)
        else:
            deliver(future.set_result, result)

    threading.Thread(target=target, name=f"load-{function.__name__}", daemon=True).start()
    try:
        async with asyncio.timeout(timeout_s):
            return await future
    except TimeoutError:
        raise ModelLoadError(
            f"loading did not finish within {timeout_s:g} s (D2L_LOAD_TIMEOUT_S)"
        ) from None

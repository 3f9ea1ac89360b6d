"""Dynamic batching: requests for one model are queued and run together, one forward pass per
batch, in the model's own worker thread.

A batch takes what is queued, up to ``max_batch_size`` items, waiting at most ``max_wait_ms``
after its first item for more. While a forward pass runs, new requests queue up, so under load
batches fill by themselves and at low load an item waits at most ``max_wait_ms``. What a model
takes in is bounded by its :class:`~app.serving.capacity.Capacity` (``max_queue`` images): the
web layer calls :meth:`DynamicBatcher.check_room` before reading a request's body and
:meth:`DynamicBatcher.admit` once it has arrived, and what does not fit is refused at once
(:class:`QueueFullError`, 503). An item still queued after the timeout is
given up (:class:`QueueTimeoutError`, 504) and never reaches the model; once its batch has started
it is answered (the work is being done).

One bad item never costs the others their answers: when a batch fails, each of its items runs
again alone, and only those that fail alone get an error (:class:`ItemFailedError`, 422; 503 when
the device ran out of memory). :meth:`DynamicBatcher.close` stops taking requests and returns once
everything queued has been answered; :meth:`DynamicBatcher.retire` (a reload) first waits for
every request already admitted to arrive and be answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from app.core.errors import ServiceError
from app.serving.capacity import Capacity, QueueFullError, Ticket

logger = logging.getLogger(__name__)

In = TypeVar("In")
Out = TypeVar("Out")


class QueueTimeoutError(ServiceError):
    status_code = 504

    def __init__(self, model: str, timeout_s: float) -> None:
        super().__init__(
            f"model {model!r} did not start on the request within {timeout_s:g} s "
            f"(D2L_REQUEST_TIMEOUT_S): the service is overloaded; retry later"
        )


class BatcherClosedError(ServiceError):
    status_code = 503

    def __init__(self, model: str) -> None:
        super().__init__(
            f"model {model!r} is shutting down or being replaced: retry",
            headers={"Retry-After": "1"},
        )


class ItemFailedError(ServiceError):
    """The model failed on one item run alone; the other items of its batch were answered."""

    def __init__(self, model: str, error: BaseException) -> None:
        kind = type(error).__name__
        self.out_of_memory = isinstance(error, MemoryError) or kind == "OutOfMemoryError"
        advice = (
            "the device ran out of memory: retry later, or send a smaller image"
            if self.out_of_memory
            else "send an input the model accepts (its accepts in GET /models)"
        )
        super().__init__(
            f"model {model!r} failed on this input alone ({kind}); the requests batched with "
            f"it were answered: {advice}",
            status_code=503 if self.out_of_memory else 422,
            headers={"Retry-After": "1"} if self.out_of_memory else None,
            loc=("body",),
            error_type="model_input",
        )


class BatchObserver(Protocol):
    """What the batcher reports (the service's metrics implement it)."""

    def batch_done(self, model: str, size: int, seconds: float) -> None: ...


@dataclass(frozen=True)
class BatchingConfig:
    max_batch_size: int = 32
    max_wait_ms: float = 2.0
    max_queue: int = 256
    timeout_s: float = 30.0
    max_queue_wait_s: float | None = None  # refuse beyond this much work taken in

    def __post_init__(self) -> None:
        if self.max_batch_size < 1:
            raise ValueError(f"max_batch_size must be at least 1, got {self.max_batch_size}")
        if self.max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be at least 0, got {self.max_wait_ms}")
        if self.max_queue < 1:
            raise ValueError(f"max_queue must be at least 1, got {self.max_queue}")
        if self.timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {self.timeout_s}")
        if self.max_queue_wait_s is not None and self.max_queue_wait_s <= 0:
            raise ValueError(f"max_queue_wait_s must be positive, got {self.max_queue_wait_s}")


@dataclass
class _Pending(Generic[In, Out]):
    item: In
    future: asyncio.Future[Out]
    started: bool = False


class DynamicBatcher(Generic[In, Out]):
    """Runs ``run_batch(items) -> results`` (same length, same order) on batches of queued items.

    Create it inside the running event loop; ``run_batch`` runs in one dedicated thread, so
    batches of a model never overlap and the event loop never waits on a forward pass.
    """

    def __init__(
        self,
        name: str,
        run_batch: Callable[[list[In]], Sequence[Out]],
        config: BatchingConfig,
        observer: BatchObserver | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self._run_batch = run_batch
        self._observer = observer
        # Two batches may always wait, whatever the pace: batching needs company.
        self.capacity = Capacity(
            f"model {name!r}",
            config.max_queue,
            max_wait_s=config.max_queue_wait_s,
            floor=2 * config.max_batch_size,
        )
        self._queue: deque[_Pending[In, Out]] = deque()
        self._arrived = asyncio.Event()
        self._closed = False
        self._admitting = True
        self._draining = False
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"model-{name}")
        self._worker = asyncio.get_running_loop().create_task(self._serve(), name=f"batch-{name}")

    @property
    def depth(self) -> int:
        """Items waiting for a forward pass."""
        return len(self._queue)

    def check_room(self, units: int = 1) -> None:
        """Raise as :meth:`admit` would, taking nothing (before a request's body is read)."""
        if self._closed or not self._admitting:
            raise BatcherClosedError(self.name)
        self.capacity.check(units)

    def admit(self, units: int = 1) -> Ticket:
        """Take ``units`` images in (once a request's body has arrived); raises
        :class:`QueueFullError` at once when they do not fit, :class:`BatcherClosedError` when
        closing."""
        if self._closed or not self._admitting:
            raise BatcherClosedError(self.name)
        return self.capacity.admit(units)

    async def submit(self, item: In) -> Out:
        (result,) = await self.submit_many([item])
        return result

    async def submit_many(self, items: Sequence[In]) -> list[Out]:
        """Queue ``items`` (all or none) and wait for their results, in order.

        Items still queued after the timeout are dropped (504); items whose batch has started
        are waited for, since the model is computing them.
        """
        if self._closed:
            raise BatcherClosedError(self.name)
        if len(self._queue) + len(items) > self.config.max_queue:  # callers without admission
            raise QueueFullError(
                f"model {self.name!r}", f"{self.config.max_queue} images", "D2L_MAX_QUEUE"
            )
        loop = asyncio.get_running_loop()
        pending = [_Pending(item, loop.create_future()) for item in items]
        self._queue.extend(pending)
        self._arrived.set()
        futures = [p.future for p in pending]
        try:
            _, waiting = await asyncio.wait(futures, timeout=self.config.timeout_s)
            if any(not p.started for p in pending if p.future in waiting):
                raise QueueTimeoutError(self.name, self.config.timeout_s)
            return list(await asyncio.gather(*futures))
        finally:
            for future in futures:  # a batch that has not started skips these
                future.cancel()

    def drain(self) -> int:
        """Stop waiting for batches to fill (the server is shutting down): what is queued runs
        at once. Returns how many items are queued."""
        self._draining = True
        self._arrived.set()
        return len(self._queue)

    async def retire(self) -> int:
        """Admit no one more; once every request admitted so far has been answered (or after
        twice the request timeout, which bounds them), close. A reload retires the old model
        this way: what it took in finishes on it. Returns what :meth:`close` returns."""
        self._admitting = False
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2 * self.config.timeout_s):
                await self.capacity.wait_idle()
        return await self.close()

    async def close(self) -> int:
        """Refuse new items, answer the queued ones, then stop the worker thread; returns how
        many items were still queued (and have now been answered)."""
        self._closed = True
        queued = len(self._queue)
        self._arrived.set()
        await self._worker
        self._executor.shutdown(wait=True)
        return queued

    async def _serve(self) -> None:
        while True:
            if not self._queue:
                if self._closed:
                    return
                self._arrived.clear()
                await self._arrived.wait()
                continue
            await self._fill()
            batch = self._take()
            if batch:
                await self._run(batch)

    async def _fill(self) -> None:
        """Wait up to max_wait_ms for the batch to fill, unless closing or draining (then run at
        once)."""
        deadline = time.monotonic() + self.config.max_wait_ms / 1000
        while (
            len(self._queue) < self.config.max_batch_size
            and not self._closed
            and not self._draining
        ):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._arrived.clear()
            try:
                async with asyncio.timeout(remaining):
                    await self._arrived.wait()
            except TimeoutError:
                return

    def _take(self) -> list[_Pending[In, Out]]:
        batch: list[_Pending[In, Out]] = []
        while self._queue and len(batch) < self.config.max_batch_size:
            pending = self._queue.popleft()
            if not pending.future.done():  # given up by its request (timeout, disconnect)
                pending.started = True
                batch.append(pending)
        return batch

    async def _run(self, batch: list[_Pending[In, Out]]) -> None:
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        items = [p.item for p in batch]
        outcomes = await loop.run_in_executor(self._executor, self._outcomes, items)
        if self._observer is not None:
            self._observer.batch_done(self.name, len(batch), time.perf_counter() - started)
        for pending, outcome in zip(batch, outcomes, strict=True):
            if pending.future.done():
                continue
            if isinstance(outcome, ItemFailedError):
                pending.future.set_exception(outcome)
            else:
                pending.future.set_result(outcome)

    def _outcomes(self, items: list[In]) -> list[Out | ItemFailedError]:
        """The batch's results; if it fails, each item's result alone or its error (on the
        model's thread)."""
        try:
            return self._checked_batch(items)
        except Exception as error:  # noqa: BLE001 - the items are tried one by one
            if len(items) == 1:
                logger.exception("model %s failed on an input", self.name)
                return [ItemFailedError(self.name, error)]
            logger.warning(
                "batch of %d failed on model %s (%s: %s); running its items one by one",
                len(items),
                self.name,
                type(error).__name__,
                error,
            )
        return [self._outcomes([item])[0] for item in items]

    def _checked_batch(self, items: list[In]) -> list[Out]:
        results = self._run_batch(items)
        if len(results) != len(items):
            raise RuntimeError(
                f"model {self.name!r} returned {len(results)} results for {len(items)} items"
            )
        return list(results)

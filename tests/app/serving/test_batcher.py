"""The dynamic batcher on a real batch function: grouping, order, backpressure, timeouts,
errors and draining."""

from __future__ import annotations

import asyncio
import threading

import pytest

from app.serving.batcher import (
    BatcherClosedError,
    BatchingConfig,
    DynamicBatcher,
    QueueFullError,
    QueueTimeoutError,
)


class Recorder:
    """Doubles numbers and records each batch it was given."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.batches: list[list[int]] = []
        self.gate = gate
        self.started = threading.Event()
        self.sizes: list[int] = []

    def __call__(self, items: list[int]) -> list[int]:
        self.batches.append(list(items))
        self.started.set()
        if self.gate is not None:
            self.gate.wait(timeout=30)
        return [2 * item for item in items]

    def batch_done(self, model: str, size: int, seconds: float) -> None:
        self.sizes.append(size)


async def wait_for(condition, what: str) -> None:
    """Yield to the loop until ``condition()`` holds (bounded, so a bug fails the test)."""
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"timed out waiting until {what}")


def test_concurrent_items_are_grouped_into_batches_and_answered_in_order():
    async def scenario() -> tuple[list[int], Recorder]:
        recorder = Recorder()
        config = BatchingConfig(max_batch_size=4, max_wait_ms=200)
        batcher = DynamicBatcher("double", recorder, config, observer=recorder)
        results = await asyncio.gather(*(batcher.submit(i) for i in range(10)))
        await batcher.close()
        return list(results), recorder

    results, recorder = asyncio.run(scenario())
    assert results == [2 * i for i in range(10)]
    assert [len(b) for b in recorder.batches] == [4, 4, 2]
    assert sorted(i for batch in recorder.batches for i in batch) == list(range(10))
    assert recorder.sizes == [4, 4, 2], "each batch is reported to the observer"


def test_a_lone_item_waits_at_most_max_wait_ms():
    async def scenario() -> list[list[int]]:
        recorder = Recorder()
        batcher = DynamicBatcher("double", recorder, BatchingConfig(max_wait_ms=0))
        assert await batcher.submit(21) == 42
        await batcher.close()
        return recorder.batches

    assert asyncio.run(scenario()) == [[21]]


def test_submit_many_is_admitted_whole_and_answered_in_order():
    async def scenario() -> list[int]:
        batcher = DynamicBatcher("double", Recorder(), BatchingConfig(max_batch_size=2))
        results = await batcher.submit_many([5, 6, 7])
        await batcher.close()
        return results

    assert asyncio.run(scenario()) == [10, 12, 14]


def test_a_full_queue_refuses_at_once_and_the_queued_items_are_still_answered():
    gate = threading.Event()

    async def scenario() -> list[int]:
        recorder = Recorder(gate)
        config = BatchingConfig(max_batch_size=1, max_wait_ms=0, max_queue=2)
        batcher = DynamicBatcher("double", recorder, config)
        running = asyncio.ensure_future(batcher.submit(1))
        await wait_for(recorder.started.is_set, "the first batch runs")
        queued = [asyncio.ensure_future(batcher.submit(i)) for i in (2, 3)]
        await wait_for(lambda: batcher.depth == 2, "two items are queued")
        with pytest.raises(QueueFullError, match="at capacity") as refused:
            await batcher.submit(4)
        assert refused.value.retry_after >= 1
        with pytest.raises(QueueFullError):
            await batcher.submit_many([5])
        gate.set()
        results = [await running, *[await q for q in queued]]
        await batcher.close()
        return results

    assert asyncio.run(scenario()) == [2, 4, 6]


def test_an_item_that_waits_too_long_times_out_and_is_dropped_from_its_batch():
    gate = threading.Event()

    async def scenario() -> Recorder:
        recorder = Recorder(gate)
        config = BatchingConfig(max_batch_size=1, max_wait_ms=0, timeout_s=0.2)
        batcher = DynamicBatcher("double", recorder, config)
        first = asyncio.ensure_future(batcher.submit(1))
        await wait_for(recorder.started.is_set, "the first batch runs")
        with pytest.raises(QueueTimeoutError, match="did not answer within 0.2 s"):
            await batcher.submit(2)  # queued behind the blocked batch
        gate.set()
        with pytest.raises(QueueTimeoutError):
            await first  # it ran past its own timeout too
        assert await batcher.submit(3) == 6  # the model serves on
        await batcher.close()
        return recorder

    recorder = asyncio.run(scenario())
    assert recorder.batches == [[1], [3]], "the timed-out item never reached the model"


def test_an_error_in_the_batch_reaches_every_request_of_it_and_the_batcher_serves_on():
    def fail_on_negative(items: list[int]) -> list[int]:
        if any(item < 0 for item in items):
            raise ValueError("negative input")
        return [2 * item for item in items]

    async def scenario() -> int:
        config = BatchingConfig(max_batch_size=8, max_wait_ms=100)
        batcher = DynamicBatcher("double", fail_on_negative, config)
        outcomes = await asyncio.gather(
            batcher.submit(1), batcher.submit(-1), return_exceptions=True
        )
        assert all(isinstance(o, ValueError) for o in outcomes)
        result = await batcher.submit(4)
        await batcher.close()
        return result

    assert asyncio.run(scenario()) == 8


def test_close_answers_the_queued_items_at_once_then_refuses_new_ones():
    async def scenario() -> tuple[list[int], Recorder]:
        recorder = Recorder()
        # A batch would wait 10 s to fill: closing must not wait for that.
        config = BatchingConfig(max_batch_size=64, max_wait_ms=10_000)
        batcher = DynamicBatcher("double", recorder, config)
        pending = [asyncio.ensure_future(batcher.submit(i)) for i in range(5)]
        await wait_for(lambda: batcher.depth == 5, "five items are queued")
        async with asyncio.timeout(5):
            await batcher.close()
        results = [await p for p in pending]
        with pytest.raises(BatcherClosedError, match="shutting down"):
            await batcher.submit(9)
        return results, recorder

    results, recorder = asyncio.run(scenario())
    assert results == [0, 2, 4, 6, 8]
    assert recorder.batches == [[0, 1, 2, 3, 4]]


@pytest.mark.parametrize(
    ("field", "value"),
    [("max_batch_size", 0), ("max_wait_ms", -1), ("max_queue", 0), ("timeout_s", 0)],
)
def test_bad_batching_settings_are_refused_by_name(field, value):
    with pytest.raises(ValueError, match=field):
        BatchingConfig(**{field: value})

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
    ItemFailedError,
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
            self.gate.wait(timeout=600)
        return [2 * item for item in items]

    def batch_done(self, model: str, size: int, seconds: float) -> None:
        self.sizes.append(size)


async def wait_for(condition, what: str) -> None:
    """Yield to the loop until ``condition()`` holds (bounded, so a bug fails the test)."""
    for _ in range(120_000):  # at least 2 minutes: generous on a busy machine
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


def test_a_lone_item_runs_alone_once_its_wait_is_over():
    async def scenario() -> list[list[int]]:
        recorder = Recorder()
        # Nothing else comes: after 50 ms the batch runs with its one item (a regression that
        # kept waiting would hit the per-test timeout).
        batcher = DynamicBatcher("double", recorder, BatchingConfig(max_wait_ms=50))
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


def test_an_item_still_queued_at_the_timeout_is_dropped_and_a_started_one_is_answered():
    gate = threading.Event()

    async def scenario() -> tuple[Recorder, int]:
        recorder = Recorder(gate)
        config = BatchingConfig(max_batch_size=1, max_wait_ms=0, timeout_s=0.2)
        batcher = DynamicBatcher("double", recorder, config)
        first = asyncio.ensure_future(batcher.submit(1))
        await wait_for(recorder.started.is_set, "the first batch runs")
        # Queued behind the batch the gate holds: it cannot start before its timeout.
        with pytest.raises(QueueTimeoutError, match="did not start on the request within 0.2 s"):
            await batcher.submit(2)
        gate.set()
        answered = await first  # started before its timeout: answered, however long it took
        assert await batcher.submit(3) == 6  # the model serves on
        await batcher.close()
        return recorder, answered

    recorder, answered = asyncio.run(scenario())
    assert answered == 2
    assert recorder.batches == [[1], [3]], "the timed-out item never reached the model"


def test_one_bad_item_fails_alone_and_the_rest_of_its_batch_is_answered():
    runs: list[list[int]] = []

    def fail_on_negative(items: list[int]) -> list[int]:
        runs.append(list(items))
        if any(item < 0 for item in items):
            raise ValueError("negative input")
        return [2 * item for item in items]

    async def scenario() -> list[object]:
        config = BatchingConfig(max_batch_size=8, max_wait_ms=3_600_000)
        batcher = DynamicBatcher("double", fail_on_negative, config)
        pending = [asyncio.ensure_future(batcher.submit(i)) for i in (1, -1, 3, -5)]
        await wait_for(lambda: batcher.depth == 4, "the four items are queued")
        batcher.drain()  # one batch of the four
        outcomes = await asyncio.gather(*pending, return_exceptions=True)
        assert await batcher.submit(4) == 8, "the batcher serves on"
        await batcher.close()
        return outcomes

    outcomes = asyncio.run(scenario())
    assert outcomes[0] == 2 and outcomes[2] == 6
    for failed in (outcomes[1], outcomes[3]):
        assert isinstance(failed, ItemFailedError)
        assert "failed on this input alone (ValueError)" in str(failed)
        assert "the requests batched with it were answered" in str(failed)
        assert not failed.out_of_memory
    assert runs[:5] == [[1, -1, 3, -5], [1], [-1], [3], [-5]]


def test_a_batch_that_runs_out_of_memory_is_answered_item_by_item():
    def needs_memory_per_item(items: list[int]) -> list[int]:
        if len(items) > 1 or items[0] > 100:
            raise MemoryError()
        return [2 * item for item in items]

    async def scenario() -> list[object]:
        config = BatchingConfig(max_batch_size=8, max_wait_ms=3_600_000)
        batcher = DynamicBatcher("double", needs_memory_per_item, config)
        pending = [asyncio.ensure_future(batcher.submit(i)) for i in (1, 2, 500)]
        await wait_for(lambda: batcher.depth == 3, "the items are queued")
        batcher.drain()
        outcomes = await asyncio.gather(*pending, return_exceptions=True)
        await batcher.close()
        return outcomes

    first, second, huge = asyncio.run(scenario())
    assert (first, second) == (2, 4)
    assert isinstance(huge, ItemFailedError) and huge.out_of_memory
    assert "ran out of memory" in str(huge)


def test_close_answers_the_queued_items_at_once_then_refuses_new_ones():
    async def scenario() -> tuple[list[int], Recorder]:
        recorder = Recorder()
        # A batch would wait an hour to fill: closing must not wait for that.
        config = BatchingConfig(max_batch_size=64, max_wait_ms=3_600_000)
        batcher = DynamicBatcher("double", recorder, config)
        pending = [asyncio.ensure_future(batcher.submit(i)) for i in range(5)]
        await wait_for(lambda: batcher.depth == 5, "five items are queued")
        async with asyncio.timeout(600):
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


def test_admission_takes_capacity_before_queueing_and_gives_it_back():
    async def scenario() -> None:
        batcher = DynamicBatcher("double", Recorder(), BatchingConfig(max_queue=3))
        first = batcher.admit(1)
        batch = batcher.admit(1)
        batch.reserve(2)  # a batch request learns its size from its body
        assert batcher.capacity.in_use == 3
        with pytest.raises(QueueFullError, match="at capacity") as refused:
            batcher.admit(1)
        assert "D2L_MAX_QUEUE" in str(refused.value)
        with pytest.raises(QueueFullError):
            first.reserve(2)
        assert batcher.capacity.in_use == 3, "a refused reservation takes nothing"
        with first:
            assert await batcher.submit(4) == 8
        assert batcher.capacity.in_use == 2
        batch.release()
        batch.release()  # once only
        assert batcher.capacity.in_use == 0
        batcher.admit(3).release()
        await batcher.close()
        with pytest.raises(BatcherClosedError):
            batcher.admit(1)

    asyncio.run(scenario())


def test_drain_runs_what_is_queued_without_waiting_for_the_batch_to_fill():
    async def scenario() -> tuple[int, list[int]]:
        recorder = Recorder()
        config = BatchingConfig(max_batch_size=64, max_wait_ms=3_600_000)  # an hour to fill
        batcher = DynamicBatcher("double", recorder, config)
        pending = [asyncio.ensure_future(batcher.submit(i)) for i in range(3)]
        await wait_for(lambda: batcher.depth == 3, "three items are queued")
        queued = batcher.drain()
        async with asyncio.timeout(600):  # answered now, not in an hour
            results = [await p for p in pending]
        assert await batcher.submit(5) == 10, "a draining batcher still answers"
        await batcher.close()
        return queued, results

    queued, results = asyncio.run(scenario())
    assert queued == 3
    assert results == [0, 2, 4]


def test_retire_lets_every_admitted_request_finish_then_closes():
    async def scenario() -> None:
        recorder = Recorder()
        batcher = DynamicBatcher("double", recorder, BatchingConfig(max_wait_ms=0))
        admitted = batcher.admit(1)  # a request whose body is still being decoded
        retiring = asyncio.ensure_future(batcher.retire())
        await wait_for(lambda: not batcher._admitting, "the batcher stops admitting")
        with pytest.raises(BatcherClosedError):
            batcher.admit(1)
        with admitted:
            assert await batcher.submit(21) == 42, "the admitted request is answered"
        async with asyncio.timeout(600):
            await retiring
        with pytest.raises(BatcherClosedError):
            await batcher.submit(1)

    asyncio.run(scenario())

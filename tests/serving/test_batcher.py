"""DynamicBatcher, real asyncio and threads: grouping, isolation, back-pressure, deadlines."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine
from typing import Any

import pytest

from stylex.errors import ResourceExhaustedError, StylexError, UnavailableError
from stylex.serving.batching import DeadlineExceeded, DynamicBatcher
from stylex.serving.metrics import ServingMetrics


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a test coroutine with a hard limit, so a hang fails fast instead of stalling CI."""
    return asyncio.run(asyncio.wait_for(coro, timeout=5.0))


class Recorder:
    """A run_batch that doubles ints, records each batch and can sleep or block on a gate."""

    def __init__(self, sleep_s: float = 0.0, gated: bool = False) -> None:
        self.batches: list[list[int]] = []
        self.sleep_s = sleep_s
        self.gate = threading.Event()
        if not gated:
            self.gate.set()
        self.started = threading.Event()  # set when a batch has begun running

    def __call__(self, items: list[int]) -> list[int | BaseException]:
        self.batches.append(list(items))
        self.started.set()
        assert self.gate.wait(timeout=5.0)
        if self.sleep_s:
            time.sleep(self.sleep_s)
        return [2 * i for i in items]

    @property
    def computed(self) -> list[int]:
        return [i for batch in self.batches for i in batch]

    async def wait_started(self) -> None:
        while not self.started.is_set():
            await asyncio.sleep(0.001)


async def settle() -> None:
    """Let freshly created submit tasks reach the queue."""
    for _ in range(5):
        await asyncio.sleep(0)


def test_concurrent_submits_are_grouped_into_one_batch() -> None:
    async def main() -> list[int]:
        rec = Recorder()
        batcher = DynamicBatcher(rec, max_batch_size=8, max_delay_ms=50.0)
        await batcher.start()
        results = await asyncio.gather(*(batcher.submit(i) for i in range(8)))
        await batcher.stop()
        assert rec.batches == [list(range(8))]
        return list(results)

    assert run(main()) == [2 * i for i in range(8)]


def test_max_batch_size_is_respected() -> None:
    async def main() -> None:
        rec = Recorder()
        batcher = DynamicBatcher(rec, max_batch_size=4, max_delay_ms=50.0)
        await batcher.start()
        results = await asyncio.gather(*(batcher.submit(i) for i in range(10)))
        await batcher.stop()
        assert list(results) == [2 * i for i in range(10)]
        assert [len(b) for b in rec.batches] == [4, 4, 2]
        assert sorted(rec.computed) == list(range(10))

    run(main())


def test_throughput_grows_with_batching() -> None:
    # run_batch costs a fixed 20 ms per call, whatever the batch size, like an engine far from
    # saturation: 16 concurrent requests need 16 calls unbatched and 2 batched.
    async def timed(max_batch_size: int) -> tuple[float, int]:
        rec = Recorder(sleep_s=0.02)
        batcher = DynamicBatcher(rec, max_batch_size=max_batch_size, max_delay_ms=5.0)
        await batcher.start()
        t0 = time.perf_counter()
        await asyncio.gather(*(batcher.submit(i) for i in range(16)))
        elapsed = time.perf_counter() - t0
        await batcher.stop()
        return elapsed, len(rec.batches)

    unbatched_s, unbatched_calls = run(timed(1))
    batched_s, batched_calls = run(timed(8))
    assert unbatched_calls == 16
    assert batched_calls == 2
    assert unbatched_s >= 16 * 0.02
    assert batched_s < unbatched_s / 3


def test_lone_client_stops_paying_the_delay_and_bursts_still_batch() -> None:
    async def main() -> None:
        rec = Recorder()
        batcher = DynamicBatcher(rec, max_batch_size=8, max_delay_ms=60.0)
        await batcher.start()
        latencies = []
        for i in range(7):  # one client, a request every ~80 ms: longer gaps than the delay
            t0 = time.perf_counter()
            await batcher.submit(i)
            latencies.append(time.perf_counter() - t0)
            await asyncio.sleep(0.08)
        # No arrival history yet: the first request waits the whole delay for company.
        assert latencies[0] >= 0.06
        # With the history showing sparse arrivals, a lone request runs at once.
        assert max(latencies[5:]) < 0.03, latencies
        # A burst of concurrent requests is still grouped (more than one is queued).
        await asyncio.gather(*(batcher.submit(10 + i) for i in range(6)))
        await batcher.stop()
        assert rec.batches[7:] == [[10 + i for i in range(6)]]

    run(main())


def test_per_item_exception_reaches_only_that_item() -> None:
    def odd_fails(items: list[int]) -> list[int | BaseException]:
        return [ValueError(f"odd {i}") if i % 2 else 10 * i for i in items]

    async def main() -> list[Any]:
        batcher = DynamicBatcher(odd_fails, max_batch_size=8, max_delay_ms=20.0)
        await batcher.start()
        results = await asyncio.gather(
            *(batcher.submit(i) for i in range(6)), return_exceptions=True
        )
        await batcher.stop()
        return list(results)

    results = run(main())
    assert results[0::2] == [0, 20, 40]
    assert all(isinstance(r, ValueError) for r in results[1::2])
    assert [str(r) for r in results[1::2]] == ["odd 1", "odd 3", "odd 5"]


def test_run_batch_raising_fails_only_its_batch() -> None:
    calls = []

    def first_call_raises(items: list[int]) -> list[int | BaseException]:
        calls.append(list(items))
        if len(calls) == 1:
            raise RuntimeError("engine blew up")
        return [i + 100 for i in items]

    async def main() -> None:
        batcher = DynamicBatcher(first_call_raises, max_batch_size=2, max_delay_ms=20.0)
        await batcher.start()
        first = await asyncio.gather(batcher.submit(1), batcher.submit(2), return_exceptions=True)
        assert all(isinstance(r, RuntimeError) and str(r) == "engine blew up" for r in first)
        # The batcher survived and serves the next batch.
        assert await asyncio.gather(batcher.submit(3), batcher.submit(4)) == [103, 104]
        await batcher.stop()

    run(main())
    assert calls == [[1, 2], [3, 4]]


def test_wrong_number_of_results_fails_the_batch() -> None:
    async def main() -> None:
        batcher = DynamicBatcher(lambda items: [1], max_batch_size=2, max_delay_ms=20.0)
        await batcher.start()
        results = await asyncio.gather(batcher.submit(1), batcher.submit(2), return_exceptions=True)
        await batcher.stop()
        for r in results:
            assert isinstance(r, StylexError)
            assert "returned 1 results for 2 items" in str(r)

    run(main())


def test_full_queue_is_refused_at_once_then_recovers() -> None:
    async def main() -> None:
        rec = Recorder(gated=True)
        batcher = DynamicBatcher(rec, max_batch_size=1, max_delay_ms=0.0, max_queue=2)
        await batcher.start()
        running = asyncio.create_task(batcher.submit(0))
        await rec.wait_started()  # item 0 left the queue and blocks the worker
        queued = [asyncio.create_task(batcher.submit(i)) for i in (1, 2)]
        await settle()
        assert batcher.queue_depth == 2

        t0 = time.perf_counter()
        with pytest.raises(ResourceExhaustedError, match="max_queue=2"):
            await batcher.submit(3)
        assert time.perf_counter() - t0 < 0.05
        assert batcher.queue_depth == 2  # the refused item was not stored

        rec.gate.set()
        assert await asyncio.gather(running, *queued) == [0, 2, 4]
        assert batcher.queue_depth == 0
        assert await batcher.submit(5) == 10
        await batcher.stop()
        assert rec.computed == [0, 1, 2, 5]

    run(main())


def test_expired_deadline_is_not_computed() -> None:
    async def main() -> None:
        rec = Recorder()
        batcher = DynamicBatcher(rec, max_batch_size=4, max_delay_ms=1.0)
        await batcher.start()
        with pytest.raises(DeadlineExceeded):
            await batcher.submit(7, deadline=time.monotonic() - 0.001)
        assert await batcher.submit(1, deadline=time.monotonic() + 5.0) == 2
        await batcher.stop()
        assert rec.computed == [1]

    run(main())


def test_deadline_passing_while_queued_drops_the_item() -> None:
    async def main() -> None:
        rec = Recorder(gated=True)
        batcher = DynamicBatcher(rec, max_batch_size=1, max_delay_ms=0.0)
        await batcher.start()
        running = asyncio.create_task(batcher.submit(0))
        await rec.wait_started()
        t0 = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            await batcher.submit(9, deadline=t0 + 0.05)
        # The caller hears back at its deadline, not after the batch in front of it.
        assert time.monotonic() - t0 < 0.5
        rec.gate.set()
        assert await running == 0
        assert await batcher.submit(1) == 2
        await batcher.stop()
        assert rec.computed == [0, 1]

    run(main())


def test_deadline_exceeded_carries_its_status() -> None:
    assert issubclass(DeadlineExceeded, StylexError)
    assert DeadlineExceeded.grpc_status == "DEADLINE_EXCEEDED"
    assert DeadlineExceeded.exit_code == 5


def test_cancelled_submit_is_not_computed() -> None:
    async def main() -> None:
        rec = Recorder(gated=True)
        batcher = DynamicBatcher(rec, max_batch_size=4, max_delay_ms=0.0)
        await batcher.start()
        running = asyncio.create_task(batcher.submit(0))
        await rec.wait_started()
        abandoned = asyncio.create_task(batcher.submit(1))
        kept = asyncio.create_task(batcher.submit(2))
        await settle()
        abandoned.cancel()
        rec.gate.set()
        assert await running == 0
        assert await kept == 4
        assert abandoned.cancelled()
        await batcher.stop()
        assert rec.computed == [0, 2]

    run(main())


def test_stop_with_drain_finishes_queued_items_then_refuses() -> None:
    async def main() -> None:
        rec = Recorder()
        # A long max_delay: stop must not wait for it, and must still run what is queued.
        batcher = DynamicBatcher(rec, max_batch_size=8, max_delay_ms=10_000.0)
        await batcher.start()
        tasks = [asyncio.create_task(batcher.submit(i)) for i in range(3)]
        await settle()
        t0 = time.perf_counter()
        await batcher.stop(drain=True)
        assert time.perf_counter() - t0 < 1.0
        assert [t.result() for t in tasks] == [0, 2, 4]
        with pytest.raises(UnavailableError, match="stopped"):
            await batcher.submit(3)

    run(main())


def test_stop_without_drain_fails_queued_items() -> None:
    async def main() -> None:
        rec = Recorder(gated=True)
        batcher = DynamicBatcher(rec, max_batch_size=1, max_delay_ms=0.0)
        await batcher.start()
        running = asyncio.create_task(batcher.submit(0))
        await rec.wait_started()
        queued = [asyncio.create_task(batcher.submit(i)) for i in (1, 2)]
        await settle()
        stopping = asyncio.create_task(batcher.stop(drain=False))
        await settle()
        rec.gate.set()
        await stopping
        assert running.result() == 0  # the batch in flight finishes
        for task in queued:
            assert isinstance(task.exception(), UnavailableError)
        assert rec.computed == [0]

    run(main())


def test_submit_before_start_is_unavailable() -> None:
    async def main() -> None:
        batcher = DynamicBatcher(Recorder())
        with pytest.raises(UnavailableError, match="not started"):
            await batcher.submit(1)

    run(main())


@pytest.mark.parametrize(
    "kwargs", [{"max_batch_size": 0}, {"max_delay_ms": -1.0}, {"max_queue": 0}]
)
def test_bad_configuration_is_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(StylexError, match=next(iter(kwargs))):
        DynamicBatcher(Recorder(), **kwargs)


def test_batcher_reports_metrics() -> None:
    metrics = ServingMetrics()

    async def main() -> None:
        batcher = DynamicBatcher(Recorder(), max_batch_size=4, max_delay_ms=20.0, metrics=metrics)
        await batcher.start()
        await asyncio.gather(*(batcher.submit(i) for i in range(6)))  # batches of 4 and 2
        await batcher.stop()

    run(main())
    text = metrics.render()
    assert "stylex_batch_size_count 2.0" in text
    assert "stylex_batch_size_sum 6.0" in text
    assert 'stylex_batch_size_bucket{le="2.0"} 1.0' in text
    assert 'stylex_stage_seconds_count{stage="queue"} 6.0' in text
    assert 'stylex_stage_seconds_count{stage="batch"} 2.0' in text
    assert "stylex_queue_depth 0.0" in text

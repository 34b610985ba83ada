"""DynamicBatcher, real asyncio and threads: grouping, isolation, back-pressure, deadlines."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine
from typing import Any

import pytest

from stylex.errors import ResourceExhaustedError, StylexError, UnavailableError
from stylex.serving.batching import DeadlineExceeded, DynamicBatcher, _Entry
from stylex.serving.metrics import ServingMetrics


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a test coroutine with a hard limit, so a hang fails fast instead of stalling CI."""
    return asyncio.run(asyncio.wait_for(coro, timeout=5.0))


class Recorder:
    """A run_batch that doubles ints, records each batch and can block on a gate."""

    def __init__(self, gated: bool = False) -> None:
        self.batches: list[list[int]] = []
        self.gate = threading.Event()
        if not gated:
            self.gate.set()
        self.started = threading.Event()  # set when a batch has begun running

    def __call__(self, items: list[int]) -> list[int | BaseException]:
        self.batches.append(list(items))
        self.started.set()
        assert self.gate.wait(timeout=5.0)
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


def test_batching_cuts_the_engine_calls() -> None:
    # 16 concurrent requests: 16 engine calls unbatched, 2 batched. An engine far from
    # saturation costs about the same per call whatever the batch size, so the calls are what
    # throughput is made of; they are counted, not timed.
    async def calls(max_batch_size: int) -> list[list[int]]:
        rec = Recorder()
        batcher = DynamicBatcher(rec, max_batch_size=max_batch_size, max_delay_ms=5.0)
        await batcher.start()
        results = await asyncio.gather(*(batcher.submit(i) for i in range(16)))
        await batcher.stop()
        assert list(results) == [2 * i for i in range(16)]
        return rec.batches

    assert run(calls(1)) == [[i] for i in range(16)]
    assert run(calls(8)) == [list(range(8)), list(range(8, 16))]


def test_first_lone_request_waits_for_company() -> None:
    async def main() -> None:
        rec = Recorder()
        # No arrival history yet: a lone request waits (here up to a minute) for company.
        batcher = DynamicBatcher(rec, max_batch_size=2, max_delay_ms=60_000.0)
        await batcher.start()
        first = asyncio.create_task(batcher.submit(0))
        await settle()
        assert (batcher.queue_depth, rec.batches) == (1, [])
        # Its company fills the batch, which then runs at once.
        assert await asyncio.gather(first, batcher.submit(1)) == [0, 2]
        await batcher.stop()
        assert rec.batches == [[0, 1]]

    run(main())


def test_lone_client_stops_paying_the_delay_and_bursts_still_batch() -> None:
    async def main() -> None:
        rec = Recorder()
        batcher = DynamicBatcher(rec, max_batch_size=8, max_delay_ms=20.0)
        await batcher.start()
        for i in range(5):  # one client, gaps of at least 30 ms: longer than the delay
            await batcher.submit(i)
            await asyncio.sleep(0.03)  # a lower bound on the gap, whatever the load
        # With the history showing sparse arrivals, a lone request is taken at once: by the
        # time a second one arrives it has left the queue, so they run in separate batches.
        lone = asyncio.create_task(batcher.submit(5))
        await settle()
        assert batcher.queue_depth == 0
        assert await asyncio.gather(lone, batcher.submit(6)) == [10, 12]
        assert rec.batches[5:] == [[5], [6]]
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

        with pytest.raises(ResourceExhaustedError, match="max_queue=2"):
            await batcher.submit(3)
        # Refused while the worker is still blocked: it did not wait for room.
        assert not rec.gate.is_set()
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
        with pytest.raises(DeadlineExceeded):
            await batcher.submit(9, deadline=time.monotonic() + 0.05)
        # The caller hears back at its deadline, not after the batch in front of it: that
        # batch is still held.
        assert not rec.gate.is_set() and not running.done()
        rec.gate.set()
        assert await running == 0
        assert await batcher.submit(1) == 2
        await batcher.stop()
        assert rec.computed == [0, 1]

    run(main())


def test_a_request_past_its_deadline_takes_no_queue_slot() -> None:
    async def main() -> None:
        rec = Recorder(gated=True)
        batcher = DynamicBatcher(rec, max_batch_size=1, max_delay_ms=0.0)
        await batcher.start()
        running = asyncio.create_task(batcher.submit(0))
        await rec.wait_started()  # the worker is busy: nothing would empty the queue now
        with pytest.raises(DeadlineExceeded, match="arrived after its deadline"):
            await batcher.submit(7, deadline=time.monotonic() - 0.001)
        assert batcher.queue_depth == 0
        rec.gate.set()
        assert await running == 0
        await batcher.stop()
        assert rec.computed == [0]

    run(main())


def test_taking_a_batch_fails_expired_entries_and_skips_abandoned_ones() -> None:
    """The queue's own rules, without the callers' timers: an entry whose deadline passed is
    failed and never handed to the engine even if its caller's timer has not fired yet (a
    timer can run late behind a busy loop); one whose caller went away is dropped silently."""

    async def main() -> None:
        batcher = DynamicBatcher(Recorder(), max_batch_size=3)
        loop = asyncio.get_running_loop()
        now = time.monotonic()
        expired = _Entry(1, now - 0.001, loop.create_future())
        abandoned = _Entry(2, now + 5.0, loop.create_future())
        abandoned.future.cancel()
        live = [_Entry(3, now + 5.0, loop.create_future())]
        live += [_Entry(i, None, loop.create_future()) for i in (4, 5, 6)]
        batcher._pending.extend([expired, abandoned, *live])

        batch = batcher._take()

        assert [e.item for e in batch] == [3, 4, 5]  # max_batch_size live items, in order
        with pytest.raises(DeadlineExceeded, match="expired while queued"):
            expired.future.result()
        assert batcher.queue_depth == 1 and not live[3].future.done()

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
        # A max_delay far beyond run()'s 5 s limit: stop must not wait for it, and must still
        # run what is queued.
        batcher = DynamicBatcher(rec, max_batch_size=8, max_delay_ms=600_000.0)
        await batcher.start()
        tasks = [asyncio.create_task(batcher.submit(i)) for i in range(3)]
        await settle()
        await batcher.stop(drain=True)
        assert rec.batches == [[0, 1, 2]]
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

"""Dynamic batching: concurrent requests are grouped into engine batches.

One asyncio worker takes the oldest queued item, waits up to `max_delay_ms` (counted from when
that item was queued) for more, up to `max_batch_size`, and runs the batch in a dedicated
single-thread executor: the event loop stays responsive and batches run one at a time, which is
what a single engine wants. The wait is skipped for a lone item when requests have been arriving
further apart than `max_delay_ms` (the median of the last 16 gaps): a single client then pays no
delay, while bursts of concurrent requests still fill batches. The queue is bounded: when it is
full, `submit` refuses at once with RESOURCE_EXHAUSTED instead of growing memory. Items whose
deadline passed or whose caller went away are dropped before the batch runs, never computed.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

from stylex.errors import (
    ConfigError,
    ResourceExhaustedError,
    StylexError,
    UnavailableError,
)

if TYPE_CHECKING:
    from stylex.serving.metrics import ServingMetrics

T = TypeVar("T")
R = TypeVar("R")


class DeadlineExceeded(StylexError):
    """The request's deadline passed before it was computed; it was dropped."""

    grpc_status = "DEADLINE_EXCEEDED"
    http_status = 504
    exit_code = 5


@dataclass
class _Entry(Generic[T, R]):
    item: T
    deadline: float | None  # time.monotonic() value, or None for no deadline
    future: asyncio.Future[R]
    queued_at: float = field(default_factory=time.monotonic)


class DynamicBatcher(Generic[T, R]):
    """Groups concurrent `submit` calls into calls of `run_batch`.

    `run_batch(items)` runs in a worker thread and returns one result per item, in order; an
    exception instance in that list is raised to that item's caller only. If `run_batch` itself
    raises, every item of that batch gets the exception and the batcher keeps running.
    """

    def __init__(
        self,
        run_batch: Callable[[list[T]], Sequence[R | BaseException]],  # runs in a worker thread
        *,
        max_batch_size: int = 8,  # most items handed to one run_batch call
        max_delay_ms: float = 5.0,  # longest the oldest item waits for company, in ms
        max_queue: int = 64,  # most items waiting; more are refused with RESOURCE_EXHAUSTED
        metrics: ServingMetrics | None = None,
        name: str = "explain",  # names the worker thread and appears in error messages
    ) -> None:
        if max_batch_size < 1:
            raise ConfigError(f"max_batch_size must be >= 1, got {max_batch_size}")
        if max_delay_ms < 0:
            raise ConfigError(f"max_delay_ms must be >= 0, got {max_delay_ms}")
        if max_queue < 1:
            raise ConfigError(f"max_queue must be >= 1, got {max_queue}")
        self._run_batch = run_batch
        self.max_batch_size = max_batch_size
        self.max_delay_ms = max_delay_ms
        self.max_queue = max_queue
        self._metrics = metrics
        self.name = name
        self._pending: deque[_Entry[T, R]] = deque()
        self._wakeup: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._closing = False
        self._last_arrival: float | None = None
        self._gaps: deque[float] = deque(maxlen=16)  # seconds between recent arrivals

    @property
    def queue_depth(self) -> int:
        """Items queued and not yet taken into a batch."""
        return len(self._pending)

    async def start(self) -> None:
        """Start the worker on the running event loop."""
        if self._worker is not None:
            raise UnavailableError(f"batcher {self.name!r} was already started")
        self._wakeup = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{self.name}-batch")
        self._worker = asyncio.create_task(self._work(), name=f"{self.name}-batcher")

    async def stop(self, drain: bool = True) -> None:
        """Refuse new items; with `drain`, finish the queued ones, else fail them with UNAVAILABLE.

        A batch already running always finishes (a thread cannot be interrupted).
        """
        self._closing = True
        if not drain:
            while self._pending:
                entry = self._pending.popleft()
                if not entry.future.done():
                    entry.future.set_exception(
                        UnavailableError(f"batcher {self.name!r} stopped before this request ran")
                    )
            self._report_depth()
        if self._worker is not None:
            assert self._wakeup is not None
            self._wakeup.set()
            await self._worker
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    async def submit(self, item: T, deadline: float | None = None) -> R:
        """Queue `item`, wait for its batch and return its result (or raise its exception).

        `deadline` is a `time.monotonic()` value; past it the item is dropped and
        `DeadlineExceeded` raised. Cancelling the caller drops the item if not yet computed.
        """
        if self._closing:
            raise UnavailableError(f"batcher {self.name!r} is stopped; not accepting requests")
        if self._worker is None or self._wakeup is None:
            raise UnavailableError(f"batcher {self.name!r} is not started")
        if len(self._pending) >= self.max_queue:
            raise ResourceExhaustedError(
                f"{self.name} queue is full: {len(self._pending)} requests waiting, "
                f"limit max_queue={self.max_queue}; retry later"
            )
        if deadline is not None and deadline <= time.monotonic():
            raise DeadlineExceeded(f"{self.name} request arrived after its deadline")
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        now = time.monotonic()
        if self._last_arrival is not None:
            self._gaps.append(now - self._last_arrival)
        self._last_arrival = now
        self._pending.append(_Entry(item, deadline, future))
        self._report_depth()
        self._wakeup.set()
        if deadline is None:
            return await future
        # Answer at the deadline even while queued behind a long batch; the timeout cancels the
        # future, so the worker drops the item instead of computing it.
        try:
            return await asyncio.wait_for(future, deadline - time.monotonic())
        except TimeoutError:
            raise DeadlineExceeded(
                f"{self.name} request was not computed before its deadline"
            ) from None

    async def _work(self) -> None:
        assert self._wakeup is not None
        loop = asyncio.get_running_loop()
        while True:
            while not self._pending:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
            if len(self._pending) > 1 or self._company_expected():
                await self._gather(self._pending[0].queued_at + self.max_delay_ms / 1000.0)
            batch = self._take()
            if batch:
                await self._run(loop, batch)

    def _company_expected(self) -> bool:
        """Whether another request is likely to arrive within max_delay_ms: yes until there is
        a history of arrivals, then only if their median gap is shorter than the delay."""
        if len(self._gaps) < 4:
            return True
        median = sorted(self._gaps)[len(self._gaps) // 2]
        return median < self.max_delay_ms / 1000.0

    async def _gather(self, until: float) -> None:
        """Wait for more items until the batch is full, `until` (monotonic) passes or we close."""
        assert self._wakeup is not None
        while len(self._pending) < self.max_batch_size and not self._closing:
            remaining = until - time.monotonic()
            if remaining <= 0:
                return
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), remaining)
            except TimeoutError:
                return

    def _take(self) -> list[_Entry[T, R]]:
        """Pop up to max_batch_size live items; expired ones fail, abandoned ones vanish."""
        batch: list[_Entry[T, R]] = []
        now = time.monotonic()
        while self._pending and len(batch) < self.max_batch_size:
            entry = self._pending.popleft()
            if entry.future.done():  # the caller was cancelled or its deadline timer fired
                continue
            if entry.deadline is not None and entry.deadline <= now:
                entry.future.set_exception(
                    DeadlineExceeded(f"{self.name} request expired while queued; not computed")
                )
                continue
            batch.append(entry)
        self._report_depth()
        return batch

    async def _run(self, loop: asyncio.AbstractEventLoop, batch: list[_Entry[T, R]]) -> None:
        started = time.monotonic()
        if self._metrics is not None:
            self._metrics.observe_batch(len(batch))
            for entry in batch:
                self._metrics.observe_stage("queue", started - entry.queued_at)
        assert self._executor is not None
        try:
            results = await loop.run_in_executor(
                self._executor, self._run_batch, [entry.item for entry in batch]
            )
            if len(results) != len(batch):
                raise StylexError(
                    f"{self.name} run_batch returned {len(results)} results for "
                    f"{len(batch)} items; expected one per item"
                )
        except Exception as error:
            results = [error] * len(batch)
        if self._metrics is not None:
            self._metrics.observe_stage("batch", time.monotonic() - started)
        for entry, result in zip(batch, results, strict=True):
            if entry.future.done():  # the caller went away while the batch ran
                continue
            if isinstance(result, BaseException):
                entry.future.set_exception(result)
            else:
                entry.future.set_result(result)

    def _report_depth(self) -> None:
        if self._metrics is not None:
            self._metrics.set_queue_depth(len(self._pending))

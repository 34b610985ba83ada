"""A server-wide budget of pixels being decoded at once.

The per-image pixel cap bounds one decode; without a budget, concurrency multiplies it (sixteen
requests at the cap decode at once). A request reserves its image's pixel count, read from the
header, before decoding and releases it after; while the budget is spent it waits, in arrival
order, until its deadline (or `max_wait_s` without one), then gets RESOURCE_EXHAUSTED.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from stylex.errors import ConfigError, ResourceExhaustedError


class DecodeBudget:
    """At most `capacity_pixels` of images decoding at once (asyncio; one event loop)."""

    def __init__(
        self,
        capacity_pixels: int,  # pixels decoding at once, all requests together
        max_wait_s: float = 5.0,  # longest wait for budget when a request has no deadline
    ) -> None:
        if capacity_pixels < 1:
            raise ConfigError(f"decode budget must be >= 1 pixel, got {capacity_pixels}")
        self.capacity = capacity_pixels
        self.max_wait_s = max_wait_s
        self.in_use = 0  # pixels reserved now
        self.peak = 0  # the most ever reserved at once
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()

    @asynccontextmanager
    async def reserve(self, pixels: int, deadline: float | None = None) -> AsyncIterator[None]:
        """Hold `pixels` of the budget for the block; `deadline` is a time.monotonic() value."""
        if pixels > self.capacity:
            raise ResourceExhaustedError(
                f"an image of {pixels:,} pixels does not fit the decode budget of "
                f"{self.capacity:,} pixels"
            )
        await self._acquire(pixels, deadline)
        try:
            yield
        finally:
            self.in_use -= pixels
            self._wake()

    async def _acquire(self, pixels: int, deadline: float | None) -> None:
        if not self._waiters and self.in_use + pixels <= self.capacity:
            self._take(pixels)
            return
        now = time.monotonic()
        wait_s = self.max_wait_s if deadline is None else min(deadline - now, self.max_wait_s)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (pixels, future)
        self._waiters.append(entry)
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout=max(wait_s, 0.0))
        except (TimeoutError, asyncio.CancelledError) as exc:
            if future.done() and not future.cancelled():
                # Granted just as the wait ended: give the pixels back.
                self.in_use -= pixels
            else:
                future.cancel()
            if entry in self._waiters:
                self._waiters.remove(entry)
            self._wake()
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise ResourceExhaustedError(
                f"the server is decoding {self.in_use:,} pixels of images (budget "
                f"{self.capacity:,}); this image of {pixels:,} pixels waited "
                f"{time.monotonic() - now:.1f} s"
            ) from None

    def _take(self, pixels: int) -> None:
        self.in_use += pixels
        self.peak = max(self.peak, self.in_use)

    def _wake(self) -> None:
        """Grant waiting requests in arrival order while they fit."""
        while self._waiters:
            pixels, future = self._waiters[0]
            if future.done():
                self._waiters.popleft()
                continue
            if self.in_use + pixels > self.capacity:
                return
            self._waiters.popleft()
            self._take(pixels)
            future.set_result(None)

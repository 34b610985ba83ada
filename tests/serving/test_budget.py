"""Decode budgets: the pixel cap per image and the server-wide budget of pixels decoding at once,
on the real server and on `DecodeBudget` itself (counts and events, no timing thresholds)."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from stylex.errors import InvalidArgumentError, ResourceExhaustedError
from stylex.serving import service as service_module
from stylex.serving.budget import DecodeBudget
from stylex.serving.client import ExplainClient
from tests.data.test_decode import rgb_png

from .conftest import png_bytes, wait_until


# --- DecodeBudget --------------------------------------------------------------------------
def test_budget_never_exceeds_its_capacity_and_serves_in_order():
    async def main():
        budget = DecodeBudget(100)
        order: list[int] = []
        inside = 0
        most = 0

        async def one(i: int, pixels: int):
            nonlocal inside, most
            async with budget.reserve(pixels):
                inside += pixels
                most = max(most, inside)
                order.append(i)
                await asyncio.sleep(0)  # let the others queue behind
                inside -= pixels

        await asyncio.gather(*(one(i, 60 if i % 2 else 30) for i in range(20)))
        return budget, order, most

    budget, order, most = asyncio.run(main())
    assert most <= 100 and budget.peak <= 100 and budget.peak == most
    assert budget.in_use == 0
    assert order == list(range(20))  # first come, first served


def test_a_wait_past_the_deadline_is_resource_exhausted_and_frees_nothing_it_did_not_take():
    async def main():
        budget = DecodeBudget(100, max_wait_s=60)
        held = asyncio.Event()
        release = asyncio.Event()

        async def holder():
            async with budget.reserve(80):
                held.set()
                await release.wait()

        task = asyncio.create_task(holder())
        await held.wait()
        with pytest.raises(ResourceExhaustedError, match="decoding 80 pixels of images"):
            async with budget.reserve(50, deadline=time.monotonic() + 0.01):
                pass
        assert budget.in_use == 80
        waiter = asyncio.create_task(budget.reserve(50).__aenter__())
        await asyncio.sleep(0)
        waiter.cancel()  # the caller went away while waiting
        with pytest.raises(asyncio.CancelledError):
            await waiter
        release.set()
        await task
        return budget

    budget = asyncio.run(main())
    assert budget.in_use == 0 and budget.peak == 80


def test_an_image_larger_than_the_budget_is_refused_at_once():
    async def main():
        async with DecodeBudget(10).reserve(11):
            pass

    with pytest.raises(ResourceExhaustedError, match="does not fit the decode budget of 10"):
        asyncio.run(main())


# --- on the real server --------------------------------------------------------------------
def _photo(side: int) -> bytes:
    rng = np.random.default_rng(side)
    return png_bytes(rng.integers(0, 256, (side, side, 3), dtype=np.uint8))


def test_oversized_images_are_refused_cheaply_by_the_server(make_server):
    s = make_server(max_image_pixels=256 * 256, decode_budget_pixels=2 * 256 * 256)
    with ExplainClient(s.address, timeout=30) as c:
        with pytest.raises(InvalidArgumentError, match="9000 x 9000 = 81,000,000 pixels"):
            c.explain(rgb_png(9000, 9000, b""))
        with pytest.raises(InvalidArgumentError, match="300 x 300 = 90,000 pixels, over the cap"):
            c.explain(_photo(300))
        assert len(c.explain(_photo(256), top_k=1)["attributes"]) == 1
    assert s.server.service.decode_budget.in_use == 0


def test_the_server_reads_an_image_header_once(make_server, monkeypatch):
    """The size read for the pixel cap is handed to the decode, which does not read it again."""
    import stylex.data.decode as decode_module

    reads = []
    real = decode_module.image_pixels

    def counting(data, *args):
        reads.append(len(data))
        return real(data, *args)

    monkeypatch.setattr(service_module, "image_pixels", counting)
    monkeypatch.setattr(decode_module, "image_pixels", counting)
    s = make_server(max_image_pixels=256 * 256, decode_budget_pixels=2 * 256 * 256)
    image = _photo(64)
    with ExplainClient(s.address, timeout=30) as c:
        assert len(c.explain(image, top_k=1, image_format="none")["attributes"]) == 1
    assert reads == [len(image)]


def test_concurrent_decodes_stay_within_the_budget(make_server, monkeypatch):
    """24 clients at once, each a 200 x 200 image; the budget fits two: never more decode."""
    decoding = 0
    most = 0
    real = service_module.decode_image_bytes

    def counting_decode(*args, **kwargs):
        nonlocal decoding, most
        decoding += 1
        most = max(most, decoding)
        try:
            return real(*args, **kwargs)
        finally:
            decoding -= 1

    monkeypatch.setattr(service_module, "decode_image_bytes", counting_decode)
    s = make_server(max_image_pixels=200 * 200, decode_budget_pixels=2 * 200 * 200,
                    decode_wait_s=60, max_queue=256)  # fmt: skip
    image = _photo(200)

    def one(_):
        with ExplainClient(s.address, timeout=60) as c:
            return c.explain(image, top_k=1, image_format="none")

    with ThreadPoolExecutor(24) as pool:
        answers = list(pool.map(one, range(24)))
    assert len(answers) == 24 and all(len(a["attributes"]) == 1 for a in answers)
    budget = s.server.service.decode_budget
    assert 200 * 200 <= budget.peak <= 2 * 200 * 200 and 1 <= most <= 2
    assert budget.in_use == 0


def test_a_request_that_cannot_get_budget_in_time_is_resource_exhausted(make_server):
    """The budget is held; the server waits its `decode_wait_s` (0.2 s, well inside the
    client's 30 s deadline) and answers RESOURCE_EXHAUSTED, naming the budget; nothing else
    decodes meanwhile, and the request after the hold is served."""
    s = make_server(max_image_pixels=100 * 100, decode_budget_pixels=100 * 100,
                    decode_wait_s=0.2)  # fmt: skip
    budget = s.server.service.decode_budget
    hold = asyncio.Event()

    async def take_all():
        async with budget.reserve(budget.capacity):
            await hold.wait()

    s.submit(take_all())
    wait_until(lambda: budget.in_use == budget.capacity, "the budget is held")
    before = s.metric(
        "stylex_requests_total", {"method": "Explain", "status": "RESOURCE_EXHAUSTED"}
    )
    with ExplainClient(s.address, timeout=30) as c:
        with pytest.raises(
            ResourceExhaustedError,
            match=r"budget 10,000\); this image of 4,096 pixels waited 0.2 s",
        ):
            c.explain(_photo(64))
        assert budget.peak == budget.capacity  # the waiting request decoded nothing
        s.loop.call_soon_threadsafe(hold.set)
        wait_until(lambda: budget.in_use == 0, "the hold is released")
        assert len(c.explain(_photo(64), top_k=1)["attributes"]) == 1
    after = s.metric("stylex_requests_total", {"method": "Explain", "status": "RESOURCE_EXHAUSTED"})
    assert after == before + 1

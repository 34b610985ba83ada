"""A real server on a free loopback port, run by its own event loop in a background thread."""

from __future__ import annotations

import asyncio
import io
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any

import numpy as np
import pytest
from PIL import Image

from stylex.runtime.model_dir import shipped_model_dir

MODEL_DIR = shipped_model_dir()  # the shipped model


def wait_until(condition: Callable[[], bool], what: str, limit_s: float = 60.0) -> None:
    """Wait for a condition the test itself brings about; the limit only turns a hang into a
    failure, it is not what the test measures."""
    end = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < end, f"never happened: {what}"
        time.sleep(0.005)


class ServerThread:
    """An `ExplainServer` on its own event loop thread; `call` runs a coroutine there."""

    def __init__(self, engine: Any, *, wait: bool = True, **config: Any) -> None:
        """`engine` None: the server loads the model itself; `wait` False: return as soon as
        `start` runs (`starting` is its future), the port is bound once `server.port` is set."""
        from stylex.serving.config import ServeConfig
        from stylex.serving.server import ExplainServer

        defaults = {"model_dir": str(MODEL_DIR), "address": "127.0.0.1:0", "metrics_port": 0}
        cfg = ServeConfig(**{**defaults, **config})
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = ExplainServer(cfg, engine=engine)
        self.starting = self.submit(self.server.start())
        if wait:
            self.starting.result(60)

    @property
    def port(self) -> int:
        return self.server.port  # the port the server bound (the config asks for port 0)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def submit(self, coro) -> Future:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call(self, coro, timeout: float = 60.0) -> Any:
        return self.submit(coro).result(timeout)

    def stop(self, grace_s: float = 1.0) -> None:
        if self.loop.is_running():
            self.call(self.server.stop(grace_s))
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float:
        value = self.server.metrics.registry.get_sample_value(name, labels or {})
        return 0.0 if value is None else value


class Gate:
    """Wraps the service's batch function: records every batch and holds each at a gate."""

    def __init__(self, server: ServerThread, open_: bool = False) -> None:
        batcher = server.server.service._batcher
        self._run = batcher._run_batch
        batcher._run_batch = self
        self.batches: list[list[Any]] = []
        self.gate = threading.Event()
        if open_:
            self.gate.set()

    def __call__(self, items: list[Any]) -> list[Any]:
        self.batches.append(list(items))
        assert self.gate.wait(60)
        return self._run(items)

    @property
    def computed(self) -> list[Any]:
        """(x, options) of every item the engine was given."""
        return [item for batch in self.batches for item in batch]

    def holds(self, n: int) -> Callable[[], bool]:
        return lambda: len(self.batches) == n

    def release_after_queueing(self, server: ServerThread, calls: list[Future]) -> list[Any]:
        """With `calls` sent, wait until the first batch is at the gate and every other call
        queued behind it, open the gate, and return the calls' results in order."""
        service = server.server.service
        wait_until(
            lambda: self.batches and service.queue_depth == len(calls) - len(self.batches[0]),
            "the first batch is at the engine and the rest queued",
        )
        assert len(self.batches) == 1
        self.gate.set()
        return [c.result(60) for c in calls]


@pytest.fixture(scope="session")
def engine():
    from stylex.runtime import OrtEngine

    return OrtEngine.load(MODEL_DIR, device="cpu", intra_op_threads=1, warmup_batch_sizes=(1, 8))


@pytest.fixture(scope="session")
def make_server(engine) -> Iterator[Callable[..., ServerThread]]:
    started: list[ServerThread] = []

    def make(**config: Any) -> ServerThread:
        s = ServerThread(engine, **config)
        started.append(s)
        return s

    yield make
    for s in started:
        s.stop()


@pytest.fixture(scope="session")
def server(make_server) -> ServerThread:
    return make_server(max_batch_size=8, max_delay_ms=5.0, max_queue=256)


@pytest.fixture()
def client(server):
    from stylex.serving.client import ExplainClient

    with ExplainClient(server.address, timeout=30) as c:
        yield c


def png_bytes(array: np.ndarray, mode: str | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="session")
def images() -> list[bytes]:
    """A few 32 px RGB PNGs: red and blue squares on gray, and noise."""
    rng = np.random.default_rng(0)
    out = []
    for i in range(6):
        a = np.full((32, 32, 3), 128, np.uint8)
        color = (220, 30, 30) if i % 2 == 0 else (30, 30, 220)
        lo = 4 + i
        a[lo : lo + 14, lo : lo + 14] = color
        out.append(png_bytes(a))
    out.append(png_bytes(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)))
    return out

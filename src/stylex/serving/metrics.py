"""Prometheus metrics of the explanation service: requests, stage latencies, batches, queue.

Each `ServingMetrics` owns its own `CollectorRegistry` unless one is given, so several servers
(or tests) in one process never collide on metric names.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import start_http_server as _start_http_server

# Latencies of a tiny CPU model are milliseconds; a large one on a busy host reaches seconds.
_LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64)


class ServingMetrics:
    """The service's metrics, registered in one registry and exported over HTTP on demand."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._requests = Counter(
            "stylex_requests",  # exported as stylex_requests_total
            "RPCs answered, by method and gRPC status.",
            ["method", "status"],
            registry=self.registry,
        )
        self._request_seconds = Histogram(
            "stylex_request_seconds",
            "Wall time of an RPC from arrival to answer, by method.",
            ["method"],
            buckets=_LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self._stage_seconds = Histogram(
            "stylex_stage_seconds",
            "Wall time of one stage of a request (decode, queue, batch, encode, ...).",
            ["stage"],
            buckets=_LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self._batch_size = Histogram(
            "stylex_batch_size",
            "Number of items in each batch handed to the engine.",
            buckets=_BATCH_SIZE_BUCKETS,
            registry=self.registry,
        )
        self._queue_depth = Gauge(
            "stylex_queue_depth",
            "Items waiting in the dynamic batcher's queue.",
            registry=self.registry,
        )

    def observe_request(self, method: str, status: str, seconds: float) -> None:
        """Count one answered RPC (`status` is the gRPC status name, e.g. "OK") and its time."""
        self._requests.labels(method=method, status=status).inc()
        self._request_seconds.labels(method=method).observe(seconds)

    def observe_stage(self, stage: str, seconds: float) -> None:
        """Record the time one request spent in `stage`."""
        self._stage_seconds.labels(stage=stage).observe(seconds)

    def observe_batch(self, size: int) -> None:
        """Record the size of one batch run by the engine."""
        self._batch_size.observe(size)

    def set_queue_depth(self, n: int) -> None:
        """Set the number of items currently queued."""
        self._queue_depth.set(n)

    def start_http_server(self, port: int, addr: str = "127.0.0.1") -> int:
        """Serve this registry as `/metrics` on `addr:port` from a daemon thread; returns the
        bound port (port 0: one the system picks)."""
        server, _thread = _start_http_server(port, addr, registry=self.registry)
        return int(server.server_port)

    def render(self) -> str:
        """The registry in Prometheus text exposition format."""
        return generate_latest(self.registry).decode("utf-8")
